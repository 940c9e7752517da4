"""The REST API through Flask's test client, on the real store."""
from __future__ import annotations

import json
import random

import pytest

from mltrack.params import HyperParams
from mltrack.store import Status


def post(client, path, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, content_type=content_type)


def test_train_takes_the_wrapped_form(client, store):
    r = post(client, "/train", {"hyper_params": {"model": "mlp", "learning_rate": 0.01}})
    assert r.status_code == 201
    iid = r.json["iid"]
    assert r.headers["Location"] == f"/status/{iid}"
    job = store.get(iid)
    assert job.status is Status.WAITING
    assert job.hyper_params == HyperParams(model="mlp", learning_rate=0.01).to_dict()


def test_train_takes_the_bare_form_the_seed_frontend_sent(client, store):
    r = post(client, "/train", {"optimizer": "SGD", "learning_rate": 0.1, "num_epochs": 2,
                                "momentum": 0.9})
    assert r.status_code == 201
    assert store.get(r.json["iid"]).hyper_params["optimizer"] == "sgd"


def test_status_has_the_seed_shape(client, store):
    iid = post(client, "/train", {"hyper_params": {"num_epochs": 2}}).json["iid"]
    claim = store.claim("w")
    for n in (1, 2):
        store.record_epoch(iid, claim.attempt, {
            "epoch": n, "train_loss": 1.0 / n, "train_accuracy": 90 + n, "test_loss": 0.5 / n,
            "test_accuracy": 95 + n, "time_training": 2.0 * n})
    store.finish(iid, claim.attempt, Status.DONE)
    r = client.get(f"/status/{iid}")
    assert r.status_code == 200
    body = r.json
    assert {"iid", "hyper_params", "status", "in_update"} <= set(body)
    assert body["status"] == "done" and body["hyper_params"]["num_epochs"] == 2
    assert body["in_update"] == {
        "epoch": [1, 2], "train_loss": [1.0, 0.5], "train_accuracy": [91, 92],
        "test_loss": [0.5, 0.25], "test_accuracy": [96, 97], "time_training": [2.0, 4.0]}
    assert body["test_accuracy"] == 97 and body["best_test_accuracy"] == 97
    assert body["runtime"] == 4.0


def test_experiments_lists_with_sort_filter_and_paging(client, store):
    iids = [post(client, "/train", {"seed": n}).json["iid"] for n in range(5)]
    accuracy = {}
    for n, iid in enumerate(iids[:3]):
        c = store.claim(f"worker-{n}")  # one job each: a worker holds one job at a time
        accuracy[c.iid] = 90 + (n * 7) % 5
        store.record_epoch(c.iid, c.attempt, {
            "epoch": 1, "train_loss": 0.1, "train_accuracy": 90, "test_loss": 0.2,
            "test_accuracy": accuracy[c.iid], "time_training": 1.0})
    body = client.get("/experiments").json
    assert body["total"] == 5 and [r["iid"] for r in body["results"]] == iids[::-1]
    first = body["results"][0]
    assert {"iid", "status", "hyper_params", "time_added", "test_accuracy", "runtime"} <= set(first)
    body = client.get("/experiments?sort=test_accuracy&limit=2").json
    ranked = sorted(accuracy, key=lambda i: (accuracy[i], i), reverse=True)
    assert [r["iid"] for r in body["results"]] == ranked[:2]
    body = client.get("/experiments?sort=test_accuracy&order=asc&offset=1&limit=10").json
    assert [r["iid"] for r in body["results"]][:2] == sorted(
        accuracy, key=lambda i: (accuracy[i], i))[1:3]
    body = client.get("/experiments?status=waiting").json
    assert body["total"] == 2 and {r["status"] for r in body["results"]} == {"waiting"}


def test_cancel_and_delete(client, store):
    waiting = post(client, "/train", {}).json["iid"]
    running = post(client, "/train", {}).json["iid"]
    store.cancel(running)  # make `waiting` the next claimed... by cancelling and re-adding
    running = post(client, "/train", {}).json["iid"]
    r = post(client, f"/experiments/{waiting}/cancel", {})
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert store.claim("w").iid == running
    r = post(client, f"/experiments/{running}/cancel", {})
    assert r.status_code == 200 and r.json == {"iid": running, "status": "running",
                                               "cancel_requested": True}
    assert client.delete(f"/experiments/{running}").status_code == 409
    r = post(client, f"/experiments/{waiting}/cancel", {})  # asked twice: the same answer
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    r = client.delete(f"/experiments/{waiting}")
    assert r.status_code == 200 and r.json["deleted"] is True
    assert client.get(f"/status/{waiting}").status_code == 404


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.json["status"] == "ok"
    assert r.json["counts"]["total"] == 0


VALID = {"optimizer": "adam", "learning_rate": 0.001}

# (body, expected status, field named in the message)
BAD_TRAIN_BODIES = [
    ({"optimizer": "lbfgs"}, 400, "optimizer"),
    ({"optimizer": 7}, 400, "optimizer"),
    ({"optimizer": None}, 400, "optimizer"),
    ({"optimizer": ["adam"]}, 400, "optimizer"),
    ({"learning_rate": 0}, 400, "learning_rate"),
    ({"learning_rate": -0.1}, 400, "learning_rate"),
    ({"learning_rate": 11}, 400, "learning_rate"),
    ({"learning_rate": "0.01"}, 400, "learning_rate"),
    ({"learning_rate": True}, 400, "learning_rate"),
    ('{"learning_rate": 1e400}', 400, "learning_rate"),  # a JSON number, too large for a float
    ('{"learning_rate": ' + "9" * 400 + "}", 400, "learning_rate"),  # was OverflowError, 500
    ('{"momentum": ' + "9" * 400 + ', "optimizer": "sgd"}', 400, "momentum"),
    ('{"weight_decay": -' + "9" * 400 + "}", 400, "weight_decay"),
    ('{"learning_rate": Infinity}', 400, "body"),  # not JSON
    ('{"learning_rate": NaN}', 400, "body"),
    # a key twice: the last would win silently (a 5-epoch CNN instead of an MLP)
    ('{"hyper_params": {"model": "mlp"}, "hyper_params": {"model": "cnn"}}', 400, "body"),
    ('{"hyper_params": {"model": "mlp", "model": "cnn"}}', 400, "body"),
    ({"num_epochs": 0}, 400, "num_epochs"),
    ({"num_epochs": 101}, 400, "num_epochs"),
    ({"num_epochs": 1.5}, 400, "num_epochs"),
    ({"num_epochs": "5"}, 400, "num_epochs"),
    ({"num_epochs": False}, 400, "num_epochs"),
    ({"batch_size": 0}, 400, "batch_size"),
    ({"batch_size": 8193}, 400, "batch_size"),
    ({"batch_size": 10**30}, 400, "batch_size"),
    ({"batch_size": {}}, 400, "batch_size"),
    ({"model": "resnet"}, 400, "model"),
    ({"model": ""}, 400, "model"),
    ({"momentum": 1}, 400, "momentum"),
    ({"momentum": -0.5, "optimizer": "sgd"}, 400, "momentum"),
    ({"momentum": 0.9, "optimizer": "adam"}, 400, "momentum"),
    ({"weight_decay": 2}, 400, "weight_decay"),
    ({"weight_decay": -1e-9}, 400, "weight_decay"),
    ({"seed": -1}, 400, "seed"),
    ({"seed": 2**31}, 400, "seed"),
    ({"seed": 3.2}, 400, "seed"),
    ({"epochs": 5}, 400, "epochs"),
    ({"hyper_params": {"lr": 0.1}}, 400, "lr"),
    ({"hyper_params": [1, 2]}, 400, "hyper_params"),
    ({"hyper_params": "adam"}, 400, "hyper_params"),
    ({"hyper_params": None}, 400, "hyper_params"),
    ({"hyper_params": VALID, "priority": 1}, 400, "priority"),
    ("[1, 2, 3]", 400, "body"),
    ("\"adam\"", 400, "body"),
    ("null", 400, "body"),
    ("{not json", 400, "body"),
    ("", 400, "body"),
]


@pytest.mark.parametrize("body, status, field", BAD_TRAIN_BODIES,
                         ids=[f"{n}-{f}" for n, (_, _, f) in enumerate(BAD_TRAIN_BODIES)])
def test_bad_train_bodies_are_refused_and_change_nothing(client, store, body, status, field):
    r = post(client, "/train", body)
    assert r.status_code == status
    assert r.is_json and field in r.json["error"]
    if status == 400:
        assert r.json["field"] == field
    assert store.counts()["total"] == 0 and store.queue_length() == 0


def test_a_json_number_of_5000_digits_is_400_in_plain_words(client, store):
    r = post(client, "/train", '{"learning_rate": ' + "9" * 5000 + "}")
    assert r.status_code == 400 and r.json["field"] == "body"
    assert "5000 digits" in r.json["error"] and "sys." not in r.json["error"]
    assert store.counts()["total"] == 0


@pytest.mark.parametrize("query, field", [
    ("sort=accuracy", "sort"), ("order=up", "order"), ("status=lost", "status"),
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
    ("offset=-1", "offset"), ("offset=1.5", "offset"), ("sortby=created", "sortby"),
])
def test_bad_listing_queries(client, query, field):
    r = client.get(f"/experiments?{query}")
    assert r.status_code == 400 and r.json["field"] == field


def test_limits_at_the_edges_are_accepted(client):
    assert client.get("/experiments?limit=1000&offset=0").status_code == 200
    assert client.get("/experiments?limit=1&offset=999999").json["results"] == []


@pytest.mark.parametrize("method, path", [
    ("get", "/status/{}"), ("post", "/experiments/{}/cancel"), ("delete", "/experiments/{}"),
])
@pytest.mark.parametrize("iid", ["0" * 32, "not-an-iid", "%2e%2e", "A" * 32])
def test_unknown_iids_are_404(client, method, path, iid):
    kwargs = {"json": {}} if method == "post" else {}
    r = getattr(client, method)(path.format(iid), **kwargs)
    assert r.status_code == 404 and r.is_json


def test_not_json_is_415_and_changes_nothing(client, store):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = post(client, "/train", json.dumps(VALID), content_type=ctype)
        assert r.status_code == 415 and r.is_json
    iid = store.create(HyperParams())
    r = client.post(f"/experiments/{iid}/cancel", data="", content_type="text/plain")
    assert r.status_code == 415
    assert store.get(iid).status is Status.WAITING and store.counts()["total"] == 1


def test_a_body_over_64_kib_is_413(client, store):
    big = {"hyper_params": VALID, "pad": "x" * (64 * 1024)}
    r = post(client, "/train", big)
    assert r.status_code == 413 and r.is_json
    assert store.counts()["total"] == 0


def test_wrong_methods_under_the_api_are_json_errors(client):
    r = client.get("/train")
    assert r.status_code == 405 and r.is_json
    r = client.put("/experiments", json={})
    assert r.status_code == 405 and r.is_json
    assert client.get("/status/").status_code == 404


def test_random_garbage_never_gets_a_500(client):
    rng = random.Random(1)
    atoms = [None, True, -1, 0, 1.5, 1e308, "", "x" * 300, "adam", [], {}, [1, {}]]
    keys = ["optimizer", "learning_rate", "num_epochs", "batch_size", "model", "momentum",
            "weight_decay", "seed", "hyper_params", "", "__proto__"]
    for _ in range(300):
        body = {rng.choice(keys): rng.choice(atoms) for _ in range(rng.randint(0, 4))}
        if rng.random() < 0.3:
            body = {"hyper_params": body}
        r = post(client, "/train", body)
        assert r.status_code in (201, 400), (body, r.json)
    for query in ["sort=", "limit=", "offset=%00", "status=%ff", "order=" + "a" * 5000]:
        assert client.get(f"/experiments?{query}").status_code in (200, 400)


def test_database_down_is_503_not_500(store, redis_server):
    from mltrack.app import create_app
    from mltrack.store import Store
    dead = Store.from_url("unix:///nonexistent/valkey.sock")
    client = create_app(dead).test_client()
    assert client.get("/experiments").status_code == 503
    assert client.post("/train", json={}).status_code == 503
    r = client.get("/health")
    assert r.status_code == 503 and "database" in r.json["error"]


def test_a_sweep_queues_every_combination_in_one_call(client, store):
    r = post(client, "/sweep", {"hyper_params": {"model": "mlp", "num_epochs": 2},
                                "sweep": {"learning_rate": [0.1, 0.01, 0.001],
                                          "optimizer": ["adam", "sgd"]}})
    assert r.status_code == 201 and r.json["count"] == 6
    jobs = store.get_many(r.json["iids"])
    combos = {(j.hyper_params["optimizer"], j.hyper_params["learning_rate"]) for j in jobs}
    assert combos == {(o, lr) for o in ("adam", "sgd") for lr in (0.1, 0.01, 0.001)}
    assert all(j.hyper_params["model"] == "mlp" and j.num_epochs == 2 for j in jobs)
    assert store.queue_length() == 6


@pytest.mark.parametrize("body, field", [
    ({"sweep": {}}, "sweep"),
    ({"sweep": [1, 2]}, "sweep"),
    ({"sweep": {"learning_rate": []}}, "learning_rate"),
    ({"sweep": {"learning_rate": 0.1}}, "learning_rate"),
    ({"sweep": {"learning_rate": [0.1, 20]}}, "learning_rate"),
    ({"sweep": {"lr": [0.1]}}, "lr"),
    ({"sweep": {"seed": list(range(40)), "batch_size": list(range(1, 40))}}, "sweep"),
    ({"hyper_params": {"model": "vgg"}, "sweep": {"seed": [1, 2]}}, "model"),
    ({"hyper_params": [], "sweep": {"seed": [1, 2]}}, "hyper_params"),
    ({"sweep": {"seed": [1]}, "extra": 1}, "extra"),
])
def test_a_bad_sweep_queues_nothing(client, store, body, field):
    r = post(client, "/sweep", body)
    assert r.status_code == 400 and r.json["field"] == field
    assert store.counts()["total"] == 0


def test_retry_of_a_failed_job(client, store):
    iid = post(client, "/train", {"model": "mlp"}).json["iid"]
    claim = store.claim("w")
    store.finish(iid, claim.attempt, Status.FAILED, error="boom")
    r = post(client, f"/experiments/{iid}/retry", {})
    assert r.status_code == 201 and r.json["retry_of"] == iid
    assert store.get(r.json["iid"]).status is Status.WAITING
    assert post(client, f"/experiments/{r.json['iid']}/retry", {}).status_code == 409


def test_a_refused_action_says_the_rule_in_words(client, store):
    """They said 'job ... is done; it cannot become retried'."""
    done = post(client, "/train", {"model": "mlp"}).json["iid"]
    store.finish(done, store.claim("w").attempt, Status.DONE)
    running = post(client, "/train", {"model": "mlp"}).json["iid"]
    store.claim("w2")
    r = post(client, f"/experiments/{done}/retry", {})
    assert r.status_code == 409 and r.json["error"] == (
        f"job {done} is done: only a failed or cancelled job can be retried")
    r = client.delete(f"/experiments/{running}")
    assert r.status_code == 409 and r.json["error"] == (
        f"job {running} is running: a waiting or running job cannot be deleted "
        "(cancel it first)")
    r = post(client, f"/experiments/{done}/cancel", {})
    assert r.status_code == 409 and r.json["error"] == (
        f"job {done} is done: it has ended, so there is nothing to cancel")
    assert store.get(done).status is Status.DONE and store.get(running).status is Status.RUNNING


def test_listing_filters_by_text(client, store):
    post(client, "/train", {"model": "mlp", "optimizer": "sgd"})
    post(client, "/train", {"model": "cnn"})
    body = client.get("/experiments?q=mlp sgd").json
    assert body["total"] == 1 and body["results"][0]["hyper_params"]["model"] == "mlp"
    assert client.get("/experiments?q=cnn&sort=learning_rate").json["total"] == 1


def test_listing_filters_by_a_metric_and_names_a_filter_that_cannot_apply(client, store):
    good = post(client, "/train", {"model": "mlp"}).json["iid"]
    bad = post(client, "/train", {"model": "cnn"}).json["iid"]
    accuracies = {good: 98.2, bad: 91.0}
    for worker in ("w1", "w2"):
        claim = store.claim(worker)
        iid, accuracy = claim.iid, accuracies[claim.iid]
        store.record_epoch(iid, claim.attempt, {"epoch": 1, "time_training": 1.0,
                                                "train_loss": 0.1, "train_accuracy": accuracy,
                                                "test_loss": 0.1, "test_accuracy": accuracy})
    body = client.get("/experiments", query_string={"q": "test_accuracy > 97"}).json
    assert [r["iid"] for r in body["results"]] == [good] and body["total"] == 1
    r = client.get("/experiments", query_string={"q": "mlp test_acc>97"})
    assert r.status_code == 400 and r.json["field"] == "q" and "test_acc" in r.json["error"]


def _reject_constant(name):
    raise AssertionError(f"{name} in a JSON answer")


def strict(r):
    """The body of a JSON answer parsed as strict JSON (NaN / Infinity refused)."""
    assert r.is_json
    return json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)


def test_status_is_strict_json_when_a_stored_metric_is_not_finite(client, store):
    iid = store.create(HyperParams(num_epochs=3))
    claim = store.claim("w")
    store.record_epoch(iid, claim.attempt, {
        "epoch": 1, "train_loss": 0.5, "train_accuracy": 90.0, "test_loss": 0.4,
        "test_accuracy": 91.0, "time_training": 1.0})
    # A NaN written straight into the database, as a diverged run once left it.
    epoch = json.loads(store.redis.lindex(store.keys.epochs(iid), 0))
    epoch.update(train_loss=float("nan"), test_loss=float("inf"))
    store.redis.lset(store.keys.epochs(iid), 0, json.dumps(epoch))  # json.dumps writes NaN
    store.redis.hset(store.keys.job(iid), mapping={"m:train_loss": "nan", "m:test_loss": "-inf"})
    r = client.get(f"/status/{iid}")
    assert r.status_code == 200
    body = strict(r)
    assert body["in_update"]["train_loss"] == [None] and body["in_update"]["test_loss"] == [None]
    assert body["in_update"]["test_accuracy"] == [91.0]
    assert body["train_loss"] is None and body["test_loss"] is None
    listing = strict(client.get("/experiments"))
    assert listing["results"][0]["train_loss"] is None


def test_strict_json_provider_writes_null_for_non_finite_floats(app):
    with app.app_context():
        text = app.json.dumps({"a": [1.5, float("nan"), {"b": float("-inf")}],
                               "c": (float("inf"),)})
    assert json.loads(text, parse_constant=_reject_constant) == {"a": [1.5, None, {"b": None}],
                                                                 "c": [None]}


@pytest.mark.parametrize("path, template", [
    ("/train", '{"hyper_params": %s}'), ("/train", "%s"), ("/train", '{"seed": %s}'),
    ("/sweep", '{"sweep": {"seed": [%s]}}'), ("/sweep", '{"hyper_params": %s, "sweep": {}}'),
])
@pytest.mark.parametrize("depth", [101, 1000, 5000, 20000])
def test_deeply_nested_json_is_400_and_changes_nothing(client, store, path, template, depth):
    nested = "[" * depth + "]" * depth if depth % 2 else '{"a":' * depth + "1" + "}" * depth
    r = post(client, path, template % nested)
    assert r.status_code in (400, 413), r.json  # 20000 levels: over 64 KiB as an object
    if r.status_code == 400:
        assert r.json["field"] == "body" and "nested" in r.json["error"]
    assert store.counts()["total"] == 0


def test_json_at_the_depth_limit_is_read(client, store):
    from mltrack.jsonio import MAX_DEPTH
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    r = post(client, "/train", '{"seed": %s}' % nested)
    assert r.status_code == 400 and r.json["field"] == "seed"  # parsed, then refused by its rule


@pytest.mark.parametrize("path", ["/train", "/sweep"])
@pytest.mark.parametrize("field", ["learning_rate", "momentum", "weight_decay", "seed",
                                   "num_epochs", "batch_size"])
def test_a_400_digit_integer_is_400_naming_its_field(client, store, path, field):
    big = "9" * 400
    body = ('{"%s": %s, "optimizer": "sgd"}' % (field, big) if path == "/train"
            else '{"hyper_params": {"optimizer": "sgd"}, "sweep": {"%s": [1, %s]}}' % (field, big))
    r = post(client, path, body)
    assert r.status_code == 400 and r.json["field"] == field
    assert store.counts()["total"] == 0


@pytest.mark.parametrize("offset", ["9223372036854775807", "1000000001", "9" * 30])
def test_an_offset_beyond_any_listing_is_400_naming_offset(client, offset):
    r = client.get(f"/experiments?offset={offset}")
    assert r.status_code == 400 and r.json["field"] == "offset"
    assert "1000000000" in r.json["error"]


def test_the_largest_offset_allowed_answers_an_empty_page(client, store):
    store.create(HyperParams())
    body = client.get("/experiments?offset=1000000000").json
    assert body["results"] == [] and body["total"] == 1


def test_an_iid_with_a_trailing_newline_is_not_an_iid(client, store):
    from mltrack.api import _known_iid
    from mltrack.store import JobNotFound
    iid = store.create(HyperParams())
    assert _known_iid(iid) == iid
    for bad in (iid + "\n", "\n" + iid, iid + "\r\n", iid.upper()):
        with pytest.raises(JobNotFound):
            _known_iid(bad)
    r = client.get(f"/status/{iid}%0A")
    assert r.status_code == 404 and r.is_json


@pytest.mark.parametrize("method, path", [
    ("get", "/nope"), ("get", "/api/experiments"), ("get", "/experiments/x/y/z"),
    ("get", "/status"), ("get", "/index.html"), ("head", "/nope"), ("post", "/nope"),
    ("post", "/experiments/{iid}/bogus"), ("delete", "/nope"), ("put", "/experiments/{iid}/x"),
    ("get", "/_dash-component-suites/nonexistent/x.js"),
    ("get", "/_dash-component-suites/dash/nonexistent.js"), ("get", "/assets/nope.css"),
])
def test_unknown_paths_are_json_404_not_the_page(client, store, method, path):
    iid = store.create(HyperParams())
    kwargs = {"json": {}} if method in ("post", "put") else {}
    r = getattr(client, method)(path.format(iid=iid), **kwargs)
    assert r.status_code == 404
    if method != "head":
        assert r.is_json and "error" in strict(r)
    assert store.counts()["total"] == 1 and store.get(iid).status is Status.WAITING


def test_the_dashboard_still_answers_at_its_own_paths(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for path in ("/_dash-layout", "/_dash-dependencies", "/_favicon.ico", "/assets/style.css",
                 "/_reload-hash"):
        assert client.get(path).status_code == 200, path
    scripts = [s for s in page.get_data(as_text=True).split('"')
               if s.startswith("/_dash-component-suites/")]
    assert scripts and all(client.get(s).status_code == 200 for s in scripts)


def test_a_trailing_slash_works_on_every_api_route(client, store):
    r = post(client, "/train/", {"model": "mlp"})
    assert r.status_code == 201
    iid = r.json["iid"]
    assert post(client, "/sweep/", {"sweep": {"seed": [1, 2]}}).status_code == 201
    assert client.get("/experiments/").json["total"] == 3
    assert client.get("/experiments/?limit=1").json["limit"] == 1
    assert client.get(f"/status/{iid}/").json["iid"] == iid
    assert client.get("/health/").status_code == 200
    assert client.get("/workers/").status_code == 200
    assert post(client, f"/experiments/{iid}/cancel/", {}).status_code == 200
    assert client.delete(f"/experiments/{iid}/").status_code == 200
    claim = store.claim("w")
    store.finish(claim.iid, claim.attempt, Status.FAILED, error="boom")
    assert post(client, f"/experiments/{claim.iid}/retry/", {}).status_code == 201


@pytest.mark.parametrize("method, path, allowed", [
    ("get", "/train", "POST"), ("get", "/train/", "POST"), ("put", "/experiments", "GET"),
    ("get", "/experiments/{iid}/cancel", "POST"), ("post", "/status/{iid}", "GET"),
    ("delete", "/sweep/", "POST"),
])
def test_a_wrong_method_on_a_route_is_json_405_with_allow(client, store, method, path, allowed):
    iid = store.create(HyperParams())
    kwargs = {"json": {}} if method in ("post", "put") else {}
    r = getattr(client, method)(path.format(iid=iid), **kwargs)
    assert r.status_code == 405 and r.is_json
    assert allowed in r.headers["Allow"]
    assert store.get(iid).status is Status.WAITING


# -- a task of the user's own, beside MNIST ----------------------------------------------
from sample_tasks import QUADRATIC, final_loss, quadratic_run  # noqa: E402


@pytest.fixture
def quadratic(store):
    assert store.register_task(QUADRATIC)
    return QUADRATIC


def test_train_a_registered_task_with_its_own_schema(client, store, quadratic):
    r = post(client, "/train", {"task": "quadratic", "hyper_params": {"lr": 0.5, "steps": 7}})
    assert r.status_code == 201, r.json
    assert r.json["task"] == "quadratic"
    assert r.json["hyper_params"] == {**QUADRATIC.defaults(), "lr": 0.5, "steps": 7}
    job = store.get(r.json["iid"])
    assert job.task == "quadratic" and job.num_epochs == 7 and job.hyper_params["lr"] == 0.5
    assert store.queue_length("quadratic") == 1 and store.queue_length() == 0
    # the bare form names its task too; no task is mnist, as in the seed
    r = post(client, "/train", {"task": "quadratic", "method": "momentum", "beta": 0.5})
    assert r.status_code == 201 and store.get(r.json["iid"]).hyper_params["beta"] == 0.5
    r = post(client, "/train", {"learning_rate": 0.01})
    assert r.status_code == 201 and r.json["task"] == "mnist"
    assert store.get(r.json["iid"]).task == "mnist"


BAD_TASK_BODIES = [
    ({"task": "quadratic", "hyper_params": {"lr": 2}}, "lr", "0.0001 <= lr <= 1"),
    ({"task": "quadratic", "hyper_params": {"lr": 0}}, "lr", "lr <= 1"),
    ({"task": "quadratic", "hyper_params": {"steps": 0}}, "steps", "between 1 and 100"),
    ({"task": "quadratic", "hyper_params": {"steps": 2.5}}, "steps", "whole number"),
    ({"task": "quadratic", "hyper_params": {"method": "adam"}}, "method", "one of gd, momentum"),
    ({"task": "quadratic", "hyper_params": {"noisy": 1}}, "noisy", "true or false"),
    ({"task": "quadratic", "hyper_params": {"beta": 0.5}}, "beta", "only when method is momentum"),
    ({"task": "quadratic", "hyper_params": {"learning_rate": 0.1}}, "learning_rate",
     "unknown hyperparameter of task quadratic"),
    ({"task": "quadratic", "x0": "3"}, "x0", "must be a number"),
    ({"task": "cubic", "hyper_params": {}}, "task", "no task 'cubic'"),
    ({"task": "", "hyper_params": {}}, "task", "lower case letters"),
    ({"task": None, "hyper_params": {}}, "task", "must be a task's name"),
    ({"task": ["quadratic"]}, "task", "must be a task's name"),
    ({"task": "x" * 5000}, "task", "at most 64"),
    ({"task": "quadratic", "hyper_params": {}, "priority": 1}, "priority", "unknown field"),
    ({"task": "mnist", "hyper_params": {"lr": 0.1}}, "lr", "unknown hyperparameter of task mnist"),
]


@pytest.mark.parametrize("body, field, rule", BAD_TASK_BODIES,
                         ids=[f"{n}-{f}" for n, (_, f, _) in enumerate(BAD_TASK_BODIES)])
def test_a_tasks_bad_values_are_400_naming_the_field_and_the_rule(client, store, quadratic,
                                                                  body, field, rule):
    r = post(client, "/train", body)
    assert r.status_code == 400 and r.json["field"] == field
    assert rule in r.json["error"], r.json
    assert len(r.json["error"]) < 400  # a 5,000-character name is not echoed whole
    assert store.counts()["total"] == 0 and store.queue_length("quadratic") == 0


def test_a_task_that_was_never_registered_is_400_even_when_valid_elsewhere(client, store):
    r = post(client, "/train", {"task": "quadratic", "hyper_params": {"lr": 0.1}})
    assert r.status_code == 400 and r.json["field"] == "task"
    assert "known: mnist" in r.json["error"]
    r = post(client, "/sweep", {"task": "quadratic", "sweep": {"lr": [0.1, 0.2]}})
    assert r.status_code == 400 and r.json["field"] == "task"
    assert store.counts()["total"] == 0


def test_a_sweep_of_a_task_queues_every_combination_of_its_schema(client, store, quadratic):
    r = post(client, "/sweep", {"task": "quadratic", "hyper_params": {"steps": 3},
                                "sweep": {"lr": [0.1, 0.2, 0.3], "method": ["gd", "momentum"]}})
    assert r.status_code == 201 and r.json["count"] == 6 and r.json["task"] == "quadratic"
    jobs = store.get_many(r.json["iids"])
    assert {(j.hyper_params["lr"], j.hyper_params["method"]) for j in jobs} == {
        (lr, m) for lr in (0.1, 0.2, 0.3) for m in ("gd", "momentum")}
    assert all(j.task == "quadratic" and j.num_epochs == 3 for j in jobs)
    assert store.queue_length("quadratic") == 6 and store.queue_length() == 0


@pytest.mark.parametrize("body, field", [
    ({"task": "quadratic", "sweep": {"lr": [0.1, 5]}}, "lr"),
    ({"task": "quadratic", "sweep": {"learning_rate": [0.1]}}, "learning_rate"),
    ({"task": "quadratic", "sweep": {"noisy": [True, "yes"]}}, "noisy"),
    # beta applies only with momentum: given while no job of the sweep has momentum
    ({"task": "quadratic", "hyper_params": {"beta": 0.5}, "sweep": {"method": ["gd", "GD"]}},
     "beta"),
    ({"task": "nope", "sweep": {"lr": [0.1]}}, "task"),
    ({"task": "quadratic", "sweep": {"x0": list(range(-10, 11)), "steps": list(range(1, 100))}},
     "sweep"),
])
def test_a_bad_sweep_of_a_task_queues_nothing(client, store, quadratic, body, field):
    r = post(client, "/sweep", body)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert store.counts()["total"] == 0


def test_sort_a_tasks_jobs_by_its_metric_last_and_best_best_first(client, store, quadratic):
    lrs = [0.05, 0.3, 0.01, 0.2, 0.1]
    iids = {quadratic_run(store, {"lr": lr, "steps": 4}): lr for lr in lrs}
    store.create({"seed": 1})  # an mnist job: no loss, so not in a listing sorted by loss
    loss = {iid: final_loss({"lr": lr, "steps": 4}) for iid, lr in iids.items()}
    by_loss = sorted(loss, key=loss.get)
    body = client.get("/experiments?sort=loss").json
    assert body["order"] == "asc"  # a loss: lowest first by default
    assert [r["iid"] for r in body["results"]] == by_loss and body["total"] == 5
    assert [r["loss"] for r in body["results"]] == [loss[i] for i in by_loss]
    body = client.get("/experiments?sort=loss&order=desc&limit=2").json
    assert [r["iid"] for r in body["results"]] == by_loss[::-1][:2]
    best = client.get("/experiments?sort=best_loss").json  # loss falls every step: best = last
    assert [r["iid"] for r in best["results"]] == by_loss
    assert all(r["best_loss"] == r["loss"] for r in best["results"])
    body = client.get("/experiments?sort=x&task=quadratic").json  # x: a max metric
    assert body["order"] == "desc"
    xs = [r["x"] for r in body["results"]]
    assert xs == sorted(xs, reverse=True) and len(xs) == 5
    body = client.get("/experiments?sort=lr&task=quadratic").json
    assert [r["hyper_params"]["lr"] for r in body["results"]] == sorted(lrs)


def test_filter_the_listing_by_task(client, store, quadratic):
    q = [quadratic_run(store, {"steps": 2}) for _ in range(2)]
    m = store.create({"seed": 3})
    body = client.get("/experiments?task=quadratic").json
    assert {r["iid"] for r in body["results"]} == set(q) and body["total"] == 2
    assert all(r["task"] == "quadratic" and "loss" in r and "best_loss" in r
               for r in body["results"])
    body = client.get("/experiments?task=mnist").json
    assert [r["iid"] for r in body["results"]] == [m]
    assert body["results"][0]["test_accuracy"] is None  # declared, no value yet
    r = client.get("/experiments?task=cubic")
    assert r.status_code == 400 and r.json["field"] == "task"
    r = client.get("/experiments?task=mnist&sort=loss")  # a metric of another task
    assert r.status_code == 400 and r.json["field"] == "sort"


def test_status_of_a_tasks_job_carries_every_metric_in_columns(client, store, quadratic):
    iid = quadratic_run(store, {"steps": 3, "lr": 0.25})
    body = client.get(f"/status/{iid}").json
    assert body["task"] == "quadratic" and body["num_epochs"] == 3
    assert set(body["in_update"]) == {"epoch", "loss", "x", "time_training"}
    assert body["in_update"]["epoch"] == [1, 2, 3]
    assert body["in_update"]["x"] == [1.5, 0.75, 0.375]
    assert body["in_update"]["loss"] == [2.25, 0.5625, 0.140625]
    assert body["loss"] == 0.140625 and body["best_x"] == 1.5


def test_retry_keeps_the_jobs_task(client, store, quadratic):
    store.create({"lr": 0.5}, schema=QUADRATIC)
    claim = store.claim("w", tasks={"quadratic": QUADRATIC})
    store.finish(claim.iid, claim.attempt, Status.FAILED, error="boom")
    r = post(client, f"/experiments/{claim.iid}/retry", {})
    assert r.status_code == 201
    again = store.get(r.json["iid"])
    assert again.task == "quadratic" and again.hyper_params["lr"] == 0.5
    assert store.queue_length("quadratic") == 1


def test_tasks_lists_every_schema_with_its_workers_and_waiting_jobs(client, store, quadratic):
    from mltrack import Schema
    store.create({"seed": 1})
    store.create({}, schema=QUADRATIC)
    store.create({}, schema=QUADRATIC)
    store.register_worker("w1", {"id": "w1", "tasks": ["mnist", "quadratic"]}, ttl=30)
    store.register_worker("w2", {"id": "w2", "tasks": ["mnist"]}, ttl=30)
    r = client.get("/tasks")
    assert r.status_code == 200 and r.json["total"] == 2
    tasks = {t["name"]: t for t in r.json["tasks"]}
    q = tasks["quadratic"]
    assert Schema.from_dict(q) == QUADRATIC  # the schema, whole
    assert q["params"]["lr"] == {"type": "float", "default": 0.1, "help": "step size",
                                 "low": 0.0001, "high": 1, "log": True, "low_open": False,
                                 "high_open": False}
    assert q["params"]["beta"]["when"] == {"method": ["momentum"]}
    assert [m["name"] for m in q["metrics"]] == ["loss", "x"] and q["primary"] == "loss"
    assert (q["workers"], q["waiting"], q["note"]) == (1, 2, None)
    mnist = tasks["mnist"]
    assert mnist["primary"] == "test_accuracy" and mnist["epochs"] == "num_epochs"
    assert [m["chart"] for m in mnist["metrics"]] == ["loss", "accuracy", "loss", "accuracy"]
    assert (mnist["workers"], mnist["waiting"]) == (2, 1)
    assert client.get("/tasks/quadratic").json == q
    r = client.get("/tasks/cubic")
    assert r.status_code == 404 and r.is_json


def test_tasks_says_when_jobs_wait_that_no_worker_runs(client, store, quadratic):
    store.create({}, schema=QUADRATIC)
    store.register_worker("w1", {"id": "w1", "tasks": ["mnist"]}, ttl=30)
    store.register_worker("old", {"id": "old"}, ttl=30)  # says nothing: MNIST only
    tasks = {t["name"]: t for t in client.get("/tasks").json["tasks"]}
    assert tasks["quadratic"]["note"] == "no worker runs task quadratic"
    assert tasks["quadratic"]["workers"] == 0 and tasks["mnist"]["workers"] == 2
    assert tasks["mnist"]["note"] is None  # nothing waits there
    store.register_worker("w2", {"id": "w2", "tasks": ["quadratic"]}, ttl=30)
    assert client.get("/tasks/quadratic").json["note"] is None


def test_tasks_counts_only_live_workers(client, store, quadratic):
    from helpers import wait_for
    store.create({}, schema=QUADRATIC)
    # a ttl a busy machine cannot outlast between these two lines (1 s could)
    store.register_worker("brief", {"id": "brief", "tasks": ["quadratic"]}, ttl=3.0)
    assert client.get("/tasks/quadratic").json["workers"] == 1
    wait_for(lambda: client.get("/tasks/quadratic").json["workers"] == 0)
    assert client.get("/tasks/quadratic").json["note"] == "no worker runs task quadratic"


@pytest.mark.parametrize("query", ["limit=%D9%A3", "offset=%EF%BC%91", "limit=1" + "0" * 5000,
                                   "offset=1e3", "limit= "])
def test_paging_numbers_are_plain_ascii_digits(client, query):
    r = client.get(f"/experiments?{query}")
    assert r.status_code == 400 and r.json["field"] in ("limit", "offset")


@pytest.mark.parametrize("path, body, field, message", [
    ("/sweep", {"sweep": {}}, "sweep", "sweep: give at least one hyperparameter to sweep"),
    ("/sweep", {"sweep": {"learning_rate": []}}, "learning_rate",
     "learning_rate: give at least one value"),
    ("/runs", {"task": "t", "num_epochs": 1.5}, "num_epochs",
     "num_epochs: must be a whole number, got 1.5"),
    ("/runs", {"task": "t", "lease": "long"}, "lease", 'lease: must be a number, got "long"'),
    ("/runs", {"task": "t", "metrics": {"loss": "low"}}, "loss",
     'loss: must be one of min, max; got "low"'),
    ("/runs", {"task": "t", "hyper_params": {"Lr": 1}}, "Lr",
     "Lr: a name is lower case letters, digits and _ (a letter first, at most 40)"),
])
def test_body_errors_are_said_in_words_not_schema_terms(client, store, path, body, field,
                                                        message):
    r = post(client, path, body)
    assert r.status_code == 400 and r.json == {"error": message, "field": field}


def test_a_log_without_metrics_is_said_in_words(client, store):
    r = post(client, "/runs", {"task": "t"})
    iid, token = r.json["iid"], r.json["token"]
    for epoch, metrics, message in [
            (1, {}, "metrics: give at least one metric"),
            (1.5, {"loss": 1}, "epoch: must be a whole number, got 1.5"),
            (True, {"loss": 1}, "epoch: must be a whole number, got true")]:
        r = post(client, f"/runs/{iid}/log", {"token": token, "epoch": epoch,
                                             "metrics": metrics})
        assert r.status_code == 400 and r.json["error"] == message
    r = post(client, f"/runs/{iid}/finish", {"token": "", "status": "done"})
    assert r.status_code == 400 and r.json["error"] == "token: must not be empty"


def test_a_status_not_known_is_said_without_an_empty_option(client):
    r = client.get("/experiments?status=finished")
    assert r.status_code == 400 and r.json["error"] == (
        "status: must be one of waiting, running, done, failed, cancelled, pruned (or empty: "
        "every status); got 'finished'")
