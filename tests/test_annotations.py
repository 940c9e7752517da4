"""Tags and notes: the store's rules, the REST routes, the listing filters
(`?tag=`, `tag:x` in q), the CSV, the client and the CLI."""
from __future__ import annotations

import json

import pytest

from mltrack import cli
from mltrack.client import Client, ClientError
from mltrack.store import InvalidValue, JobNotFound, Status, annotations
from sample_tasks import QUADRATIC, quadratic_run


def put(client, path, body):
    return client.put(path, data=json.dumps(body), content_type="application/json")


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_tags_are_checked_lower_cased_and_kept_once_in_order(store):
    iid = store.create({})
    assert annotations.set_tags(store, iid, ["Baseline", "lr:0.1", "baseline", "größe"]) == [
        "baseline", "lr:0.1", "größe"]
    assert annotations.edit_tags(store, iid, add=["x_y-z.1"], remove=["lr:0.1", "absent"]) == [
        "baseline", "größe", "x_y-z.1"]
    job = store.get(iid)
    assert job.tags == ["baseline", "größe", "x_y-z.1"]
    assert store.redis.smembers(store.keys.tag("größe")) == {iid}
    assert store.redis.smembers(store.keys.tag("lr:0.1")) == set()
    for bad in ["", "two words", "a" * 41, "semi;colon", "tag\n", 5, None]:
        with pytest.raises(InvalidValue) as caught:
            annotations.set_tags(store, iid, [bad])
        assert caught.value.field == "tags"
    with pytest.raises(InvalidValue, match="at most 20"):
        annotations.set_tags(store, iid, [f"t{n}" for n in range(21)])
    annotations.set_tags(store, iid, [f"t{n}" for n in range(19)])
    with pytest.raises(InvalidValue, match="would make 21"):
        annotations.edit_tags(store, iid, add=["u", "v"])
    with pytest.raises(InvalidValue, match="both added and removed"):
        annotations.edit_tags(store, iid, add=["u"], remove=["U"])
    assert len(store.get(iid).tags) == 19  # the refused edits changed nothing


def test_tags_of_any_script_and_width_fold_to_one(store):
    iid = store.create({})
    # combining marks (Devanagari's vowel signs, virama), NFKC: full width, ligatures
    assert annotations.set_tags(store, iid, ["हिंदी", "नमस्ते", "ｆｕｌｌ", "ﬁne", "İ"]) == [
        "हिंदी", "नमस्ते", "full", "fine", "i̇"]
    assert annotations.edit_tags(store, iid, remove=["FULL", "fine"]) == ["हिंदी", "नमस्ते", "i̇"]
    for bad in ["\u0301abc", "a\u200bb"]:  # a mark cannot start a tag; zero-width space
        with pytest.raises(InvalidValue):
            annotations.tag_name(bad)
    with pytest.raises(InvalidValue, match="must be a list of tags.*got str"):
        annotations.set_tags(store, iid, "abc")  # not read as the tags a, b, c
    assert annotations.set_note(store, iid, "line one\n\tindented") == "line one\n\tindented"
    assert annotations.set_note(store, iid, None) is None and store.get(iid).note is None


def test_the_routes_and_status_and_listing_carry_tags_and_note(client, store):
    iid = store.create({})
    r = put(client, f"/experiments/{iid}/tags", {"tags": ["Best", "mlp"]})
    assert r.status_code == 200 and r.json == {"iid": iid, "tags": ["best", "mlp"]}
    r = post(client, f"/experiments/{iid}/tags", {"add": ["v2"], "remove": ["mlp"]})
    assert r.json["tags"] == ["best", "v2"]
    note = "Ran on the laptop 🙂\nsecond line"
    r = put(client, f"/experiments/{iid}/note", {"note": note})
    assert r.status_code == 200 and r.json == {"iid": iid, "note": note}
    status = client.get(f"/status/{iid}").json
    assert status["tags"] == ["best", "v2"] and status["note"] == note
    row = client.get("/experiments").json["results"][0]
    assert row["tags"] == ["best", "v2"] and row["note"] == note
    assert put(client, f"/experiments/{iid}/note", {"note": "  "}).json["note"] is None
    put(client, f"/experiments/{iid}/note", {"note": "again"})
    assert put(client, f"/experiments/{iid}/note", {"note": None}).json["note"] is None
    assert client.get(f"/status/{iid}").json["note"] is None
    other = store.create({"seed": 1})
    assert client.get(f"/status/{other}").json["tags"] == []


@pytest.mark.parametrize("path,method,body,field", [
    ("tags", "put", {"tags": ["ok", "not ok"]}, "tags"),
    ("tags", "put", {"tags": "ok"}, "tags"),
    ("tags", "put", {"tags": ["x"] * 21}, "tags"),
    ("tags", "put", {}, "tags"),
    ("tags", "put", {"tags": [], "extra": 1}, "extra"),
    ("tags", "post", {"add": ["a" * 41]}, "add"),
    ("tags", "post", {"remove": ["bad/slash"]}, "remove"),
    ("note", "put", {"note": "x" * 10001}, "note"),
    ("note", "put", {"note": 5}, "note"),
    ("note", "put", {"note": "\ud800"}, "note"),
    ("note", "put", {"note": "a\u0000b"}, "note"),
    ("note", "put", {"note": "bell\u0007"}, "note"),
])
def test_bad_bodies_are_400_naming_the_field_and_change_nothing(client, store, path, method,
                                                               body, field):
    iid = store.create({})
    annotations.set_tags(store, iid, ["keep"])
    data = json.dumps(body) if body != {"note": "\ud800"} else '{"note": "\\ud800"}'
    r = getattr(client, method)(f"/experiments/{iid}/{path}", data=data,
                                content_type="application/json")
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert store.get(iid).tags == ["keep"] and store.get(iid).note is None


def test_a_deleted_or_unknown_run_is_404(client, store):
    iid = quadratic_run(store)
    store.delete(iid)
    for path, body in (("note", {"note": "late"}), ("tags", {"tags": ["late"]})):
        r = put(client, f"/experiments/{iid}/{path}", body)
        assert r.status_code == 404 and r.json["error"] == f"run {iid} was deleted"
    r = put(client, f"/experiments/{'a' * 32}/note", {"note": "x"})
    assert r.status_code == 404
    with pytest.raises(JobNotFound):
        annotations.set_note(store, "b" * 32, "x")
    assert not store.redis.exists(store.keys.job(iid))  # nothing was made


def test_deleting_a_run_takes_it_out_of_its_tags(store):
    iid = quadratic_run(store)
    annotations.set_tags(store, iid, ["gone"])
    store.delete(iid)
    assert not store.redis.exists(store.keys.tag("gone"))
    assert store.list_jobs(tags=["gone"]).total == 0


def test_a_retry_carries_the_tags_but_not_the_note(store):
    failed = store.create({})
    annotations.set_tags(store, failed, ["baseline", "lr-sweep"])
    annotations.set_note(store, failed, "ran out of memory")
    # a tag stored under older rules (a ';') is left behind, the others carried
    store.redis.hset(store.keys.job(failed), "tags", "baseline semi;colon Lr-Sweep")
    store.cancel(failed)
    again = store.retry(failed)
    assert store.get(again).tags == ["baseline", "lr-sweep"]
    assert store.get(again).note is None
    assert store.list_jobs(tags=["baseline"]).total == 2


def test_the_tag_filter_combines_with_status_sort_and_q(client, store):
    store.register_task(QUADRATIC)
    done = [quadratic_run(store, {"x0": x}) for x in (1.0, 2.0, 3.0)]
    waiting = store.create({"x0": 4.0}, schema=QUADRATIC)
    for iid in (*done, waiting):
        annotations.set_tags(store, iid, ["sweep1"])
    annotations.edit_tags(store, done[0], add=["best"])
    annotations.edit_tags(store, done[2], add=["best"])

    def listed(**query):
        r = client.get("/experiments", query_string=query)
        assert r.status_code == 200, r.json
        return [row["iid"] for row in r.json["results"]]

    assert set(listed(tag="sweep1")) == {*done, waiting}
    # the smaller x0, the lower the loss
    assert listed(tag="sweep1", status="done", task="quadratic", sort="loss", order="asc") == done
    assert listed(tag=["sweep1", "best"], sort="loss", order="desc") == [done[2], done[0]]
    assert listed(q="tag:best tag:SWEEP1 waiting") == []
    assert listed(q="tag:best 3.0") == [done[2]]
    assert listed(tag="nosuch") == []
    assert client.get("/experiments", query_string={"tag": "bad tag"}).json["field"] == "tag"
    assert client.get("/experiments", query_string={"tag": [f"t{n}" for n in range(21)]}
                      ).status_code == 400
    # tag: words fold as tags do (width); more than 20 are said, not cut
    assert listed(q="tag:ｂｅｓｔ") == [done[2], done[0]]
    r = client.get("/experiments", query_string={"q": " ".join(f"tag:t{n}" for n in range(21))})
    assert r.status_code == 400 and r.json["field"] == "q" and "at most 20" in r.json["error"]
    csv = client.get("/experiments.csv", query_string={"tag": "best"}).get_data(as_text=True)
    import csv as csv_module
    rows = list(csv_module.DictReader(csv.splitlines()))
    assert [r["iid"] for r in rows] == [done[2], done[0]]  # newest first
    assert {r["tags"] for r in rows} == {"sweep1 best"} and {r["note"] for r in rows} == {""}


def test_the_client_and_the_cli(live_app, store, capsys, monkeypatch):
    iid = store.create({})
    with Client(live_app) as api:
        assert api.tag(iid, add=["A", "b"]) == ["a", "b"]
        assert api.tag(iid, remove="a") == ["b"]
        assert api.set_tags(iid, ["c"]) == ["c"]
        assert api.note(iid, "hello") == "hello"
        assert [r["iid"] for r in api.records(tag="c")] == [iid]
        assert api.experiments(tag=["c"])["iid"].tolist() == [iid]
        with pytest.raises(ClientError) as caught:
            api.tag(iid, add=["no good"])
        assert caught.value.status == 400 and caught.value.field == "add"
        with pytest.raises(TypeError, match="tags"):
            api.set_tags(iid, "abc")
        assert store.get(iid).tags == ["c"]
        frame = api.experiments(tag="c")
        assert frame["tags"].tolist() == [["c"]] and frame["note"].tolist() == ["hello"]
        assert api.note(iid, None) is None
        api.note(iid, "hello")
    assert cli.main(["--url", live_app, "tag", iid[:8], "+Draft", "v1", "-c"]) == 0
    assert capsys.readouterr().out.strip() == "draft v1"
    assert cli.main(["--url", live_app, "note", iid, "from the cli"]) == 0
    assert store.get(iid).note == "from the cli"
    capsys.readouterr()
    assert cli.main(["--url", live_app, "note", iid]) == 0  # no text: prints it
    assert capsys.readouterr().out == "from the cli\n"
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("piped\n"))
    assert cli.main(["--url", live_app, "note", iid, "-"]) == 0
    assert store.get(iid).note == "piped"  # echo's newline is not kept
    assert cli.main(["--url", live_app, "note", iid, "from the cli"]) == 0
    assert cli.main(["--url", live_app, "ls", "--tag", "draft", "--tag", "v1"]) == 0
    out = capsys.readouterr().out
    assert iid[:8] in out and "draft v1" in out
    assert cli.main(["--url", live_app, "show", iid]) == 0
    assert "tags: draft v1" in capsys.readouterr().out
    assert store.get(iid).status is Status.WAITING
