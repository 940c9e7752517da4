"""The API while its database cannot write (MISCONF: a full or read-only disk).

A real valkey-server made to fail its snapshot (helpers.DiskCannotWrite)
refuses writes as it does on a full disk; writes answered 500 before.
"""
from __future__ import annotations

import pytest
import redis

from helpers import DiskCannotWrite
from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis
from mltrack.store import Store


@pytest.fixture
def private(tmp_path):
    """A server of this test's own (its disk is about to fail), a store and a client."""
    with EmbeddedRedis(tmp_path) as server:
        store = Store.from_url(server.url, "faults:")
        yield server, store, create_app(store).test_client()


def test_writes_answer_503_with_the_reason_while_the_disk_cannot_be_written(private):
    server, store, client = private
    iid = client.post("/train", json={"hyper_params": {"model": "mlp"}}).get_json()["iid"]
    with DiskCannotWrite(server.redis_dir, server.url):
        for path, body in [("/train", {"hyper_params": {"model": "cnn"}}),
                           ("/sweep", {"hyper_params": {}, "sweep": {"seed": [1, 2]}}),
                           (f"/experiments/{iid}/cancel", {})]:
            answer = client.post(path, json=body)
            assert answer.status_code == 503, (path, answer.get_data(as_text=True))
            reason = answer.get_json()["error"]
            assert reason.startswith("the database cannot write to disk: ")
            assert "unable to persist to disk" in reason
        # reads go on
        assert client.get(f"/status/{iid}").get_json()["status"] == "waiting"
        assert client.get("/experiments").get_json()["total"] == 1
    # space is back: writes work again, and nothing was stored by the refused ones
    assert client.post("/train", json={"hyper_params": {"model": "cnn"}}).status_code == 201
    assert store.counts()["waiting"] == 2


def test_other_database_refusals_stay_500(private, monkeypatch):
    _, store, client = private
    # a real error reply from the real server, of a kind that is a bug here
    monkeypatch.setattr(store, "counts", lambda: store.redis.execute_command("NO-SUCH-COMMAND"))
    with pytest.raises(redis.ResponseError):
        store.counts()
    answer = client.get("/health")
    assert answer.status_code == 500
    assert answer.get_json()["error"].startswith("internal error (ResponseError)")
