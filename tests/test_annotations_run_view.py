"""The run view's Save of tags and note, through Dash's callback route (no
browser): it keeps what was changed elsewhere since the block was drawn."""
from __future__ import annotations

import json

from dash_requests import CALLBACK_PATH, find_callback, id_key
from mltrack.store import annotations
from sample_tasks import quadratic_run


def _ids(iid: str) -> dict[str, dict[str, str]]:
    return {kind: {"type": f"meta-{kind}", "iid": iid}
            for kind in ("said", "drawn", "tags", "save", "note")}


def save(app, client, iid, tags, note, drawn):
    """Click the run's Save with the boxes holding `tags` and `note`, the block
    drawn with `drawn`; the callback's answer for that run {said, drawn, tags}."""
    ids = _ids(iid)
    key = find_callback(app, "meta-said")
    body = {
        "output": key,
        "outputs": [[{"id": ids["said"], "property": "children"}],
                    [{"id": ids["drawn"], "property": "data"}],
                    [{"id": ids["tags"], "property": "value"}]],
        "inputs": [[{"id": ids["save"], "property": "n_clicks", "value": 1}]],
        "changedPropIds": [f"{id_key(ids['save'])}.n_clicks"],
        "state": [[{"id": ids["tags"], "property": "value", "value": tags}],
                  [{"id": ids["note"], "property": "value", "value": note}],
                  [{"id": ids["drawn"], "property": "data", "value": drawn}]],
    }
    r = client.post(CALLBACK_PATH, data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200, r.data[:300]
    answer = r.json["response"]
    return {kind: next(iter(answer.get(id_key(ids[kind]), {}).values()), None)
            for kind in ("said", "drawn", "tags")}


def test_save_keeps_tags_added_elsewhere_since_the_block_was_drawn(app, client, store):
    iid = store.create({})
    annotations.set_tags(store, iid, ["baseline", "日本語"])
    drawn = {"tags": ["baseline", "日本語"], "note": ""}  # what the block was drawn with
    annotations.edit_tags(store, iid, add=["from-api"])  # the API, meanwhile
    answer = save(app, client, iid, "baseline 日本語 Browser", "", drawn)
    assert store.get(iid).tags == ["baseline", "日本語", "from-api", "browser"]
    assert answer["said"] == "saved (tags: baseline 日本語 from-api browser)"
    assert answer["tags"] == "baseline 日本語 from-api browser"  # the box shows them all
    drawn = answer["drawn"]
    # removing one in the box removes only that one, also after the first save
    annotations.edit_tags(store, iid, add=["cli"])
    save(app, client, iid, "日本語 from-api browser", "", drawn)
    assert store.get(iid).tags == ["日本語", "from-api", "browser", "cli"]


def test_save_refuses_to_overwrite_a_note_changed_elsewhere_then_a_second_save_does(
        app, client, store):
    iid = store.create({})
    annotations.set_note(store, iid, "first")
    drawn = {"tags": [], "note": "first"}
    annotations.set_note(store, iid, "from another tab")
    answer = save(app, client, iid, "mine", "my note", drawn)
    assert "the note was changed elsewhere" in answer["said"]
    assert "'from another tab'" in answer["said"]
    job = store.get(iid)
    assert job.note == "from another tab" and job.tags == []  # nothing written
    assert answer["tags"] is None  # the box keeps what the user typed
    # Save again (the block now knows the other note): replaced knowingly
    answer = save(app, client, iid, "mine", "my note", answer["drawn"])
    assert answer["said"] == "saved (tags: mine)"
    assert store.get(iid).note == "my note"
    # a note left as drawn is not written: the other tab's later note stays
    annotations.set_note(store, iid, "later elsewhere")
    save(app, client, iid, "mine two", "my note", answer["drawn"])
    job = store.get(iid)
    assert job.note == "later elsewhere" and job.tags == ["mine", "two"]


def test_save_with_a_junk_drawn_state_or_deleted_run_changes_nothing(app, client, store):
    iid = quadratic_run(store)
    annotations.set_tags(store, iid, ["keep"])
    for junk in [None, 5, "x", {"tags": "keep", "note": ""}, {"tags": ["no/slash"], "note": ""},
                 {"tags": ["keep"]}]:
        answer = save(app, client, iid, "other", "n", junk)
        assert answer["said"].startswith("not saved"), junk
    assert store.get(iid).tags == ["keep"] and store.get(iid).note is None
    store.delete(iid)
    assert save(app, client, iid, "x", "", {"tags": ["keep"], "note": ""})["said"] == \
        "not saved: the run was deleted"
