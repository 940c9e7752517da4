"""The run view's tags, note and model download in a real browser."""
from __future__ import annotations

import pytest
import requests
from helpers import serving
from mltrack.app import create_app
from mltrack.model_files import ModelFiles
from mltrack.store import Status
from mltrack.store import models as pending_models
from sample_tasks import QUADRATIC


@pytest.fixture
def models_app(store, tmp_path):
    """The real app, keeping models in tmp_path, on a free loopback port."""
    with serving(create_app(store, models=ModelFiles(tmp_path / "models"))) as url:
        yield url


def test_tags_and_note_are_edited_in_the_run_view_and_the_model_downloads(dash_duo, models_app,
                                                                          store):
    store.register_task(QUADRATIC)
    iid = store.create({}, schema=QUADRATIC)
    claim = store.claim("w", tasks={"quadratic": QUADRATIC})
    store.record_epoch(iid, claim.attempt, {"epoch": 1, "time_training": 0.1, "loss": 1.0,
                                            "x": 1.0}, goals=QUADRATIC.goals)
    pending_models.put_model(store, iid, claim.attempt, b"the weights")
    store.finish(iid, claim.attempt, Status.DONE)
    dash_duo.driver.set_window_size(1280, 800)
    dash_duo.server_url = f"{models_app}/?ticked={iid}#runs"
    link = dash_duo.wait_for_element(f".run-meta-block[data-iid='{iid}'] .model-download")
    assert link.get_attribute("href") == f"{models_app}/experiments/{iid}/model"
    assert requests.get(link.get_attribute("href"), timeout=10).content == b"the weights"
    box = dash_duo.find_element(f".run-meta-block[data-iid='{iid}'] .meta-tags-input input")
    box.send_keys("Baseline v2")
    dash_duo.find_element(f".run-meta-block[data-iid='{iid}'] textarea").send_keys(
        "first try ✓")
    dash_duo.find_element(f".run-meta-block[data-iid='{iid}'] button").click()
    dash_duo.wait_for_text_to_equal(f".run-meta-block[data-iid='{iid}'] .meta-said",
                                    "saved (tags: baseline v2)")
    job = store.get(iid)
    assert job.tags == ["baseline", "v2"] and job.note == "first try ✓"
    # a tag against the rule: said, nothing saved
    box.send_keys(" no/slash")
    dash_duo.find_element(f".run-meta-block[data-iid='{iid}'] button").click()
    dash_duo.wait_for_contains_text(f".run-meta-block[data-iid='{iid}'] .meta-said",
                                    "not saved: tags: 'no/slash' is not a tag")
    assert store.get(iid).tags == ["baseline", "v2"]
    # after the save the box showed the tags as stored; the block was not drawn
    # again under the user since (a refresh changed nothing)
    assert box.get_attribute("value") == "baseline v2 no/slash"
