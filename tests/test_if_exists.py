""""Already ran?": the fingerprint index and POST /train / /sweep with if_exists."""
from __future__ import annotations

import json

from mltrack.params import MNIST
from mltrack.store import Status, fingerprints
from sample_tasks import QUADRATIC


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def finished(store, iid, status=Status.DONE):
    """Take waiting job `iid` through claim to `status` (its epochs unrecorded)."""
    claim = store.claim("w", tasks={QUADRATIC.name: QUADRATIC, MNIST.name: MNIST})
    assert claim.iid == iid
    store.finish(iid, claim.attempt, status)
    return iid


def test_defaults_filled_in_and_explicit_are_the_same_job(client, store):
    first = post(client, "/train", {"hyper_params": {}}).json["iid"]
    explicit = dict(MNIST.defaults(), learning_rate=1e-3)
    r = post(client, "/train", {"hyper_params": explicit, "if_exists": "skip"})
    assert r.status_code == 200 and r.json == {
        "iid": first, "status": "waiting", "task": "mnist",
        "hyper_params": MNIST.parse({}), "existing": True}
    assert r.headers["Location"] == f"/status/{first}"
    # the bare form takes it too; a different seed is another job
    assert post(client, "/train", {"num_epochs": 5, "if_exists": "skip"}).json["iid"] == first
    r = post(client, "/train", {"hyper_params": {"seed": 1}, "if_exists": "skip"})
    assert r.status_code == 201 and r.json["iid"] != first and r.json["existing"] is False
    assert store.counts()["total"] == 2


def test_minus_zero_is_zero(client, store):
    store.register_task(QUADRATIC)
    a = post(client, "/train", {"task": "quadratic", "hyper_params": {"x0": -0.0}}).json["iid"]
    assert store.get(a).hyper_params["x0"] == 0.0
    r = post(client, "/train", {"task": "quadratic", "hyper_params": {"x0": 0},
                                "if_exists": "skip"})
    assert r.status_code == 200 and r.json["iid"] == a


def test_run_is_the_default_and_queues_again(client, store):
    a = post(client, "/train", {"hyper_params": {"seed": 3}}).json["iid"]
    r = post(client, "/train", {"hyper_params": {"seed": 3}})
    assert r.status_code == 201 and r.json["iid"] != a
    r = post(client, "/train", {"hyper_params": {"seed": 3}, "if_exists": "run"})
    assert r.status_code == 201
    same = fingerprints.same_jobs(store, "mnist", MNIST.parse({"seed": 3}))
    assert len(same) == 3 and same[-1].iid == a  # newest first


def test_skip_prefers_done_then_running_then_waiting_and_never_a_failed_one(client, store):
    store.register_task(QUADRATIC)
    tasks = {QUADRATIC.name: QUADRATIC}
    body = {"task": "quadratic", "hyper_params": {"x0": 2.0}, "if_exists": "skip"}
    failed = finished(store, store.create({"x0": 2.0}, schema=QUADRATIC), Status.FAILED)
    cancelled = store.create({"x0": 2.0}, schema=QUADRATIC)
    store.cancel(cancelled)
    # only failed / cancelled matches: the job runs again
    r = post(client, "/train", body)
    assert r.status_code == 201 and r.json["iid"] not in (failed, cancelled)
    first = r.json["iid"]
    assert post(client, "/train", body).json["iid"] == first  # waiting
    claim = store.claim("w", tasks=tasks)
    assert claim.iid == first
    second = store.create({"x0": 2.0}, schema=QUADRATIC)  # newer, waiting
    r = post(client, "/train", body)
    assert (r.json["iid"], r.json["status"]) == (first, "running")  # running before waiting
    store.finish(first, claim.attempt, Status.DONE)
    assert post(client, "/train", body).json["iid"] == first
    finished(store, second)  # two done: the newest
    r = post(client, "/train", body)
    assert (r.json["iid"], r.json["status"], r.status_code) == (second, "done", 200)
    assert store.counts()["total"] == 4


def test_a_deleted_job_no_longer_exists_and_old_jobs_are_indexed_once(client, store):
    iid = finished(store, store.create({"seed": 7}))
    key = store.keys.fingerprint(fingerprints.fingerprint("mnist", MNIST.parse({"seed": 7})))
    assert store.redis.smembers(key) == {iid}
    # a database from before the index: its jobs are found after the first lookup
    store.redis.delete(key, store.keys.fp_indexed)
    assert [j.iid for j in fingerprints.same_jobs(store, "mnist", MNIST.parse({"seed": 7}))] \
        == [iid]
    assert store.redis.exists(store.keys.fp_indexed)
    store.delete(iid)
    assert not store.redis.exists(key)
    r = post(client, "/train", {"hyper_params": {"seed": 7}, "if_exists": "skip"})
    assert r.status_code == 201 and r.json["iid"] != iid


def test_tracked_runs_are_not_matches(client, store):
    r = post(client, "/runs", {"task": "mnist", "hyper_params": {"seed": 9}})
    assert r.status_code == 201
    r = post(client, "/train", {"hyper_params": {"seed": 9}, "if_exists": "skip"})
    assert r.status_code == 201


def test_sweep_with_skip_queues_only_the_missing_combinations(client, store):
    store.register_task(QUADRATIC)
    one = post(client, "/train", {"task": "quadratic", "hyper_params": {"lr": 0.1}}).json["iid"]
    body = {"task": "quadratic", "sweep": {"lr": [0.1, 0.2, 0.3]}, "if_exists": "skip"}
    r = post(client, "/sweep", body)
    assert r.status_code == 201 and r.json["iids"][0] == one and r.json["existing"] == [one]
    assert r.json["count"] == 3 and len(set(r.json["iids"])) == 3
    again = post(client, "/sweep", body)
    assert again.status_code == 200 and again.json["iids"] == r.json["iids"]
    assert again.json["existing"] == r.json["iids"]
    assert store.counts()["total"] == 3
    plain = post(client, "/sweep", {**body, "if_exists": "run"})
    assert plain.status_code == 201 and plain.json["existing"] == []
    assert store.counts()["total"] == 6


def test_a_bad_if_exists_is_400_naming_it_and_queues_nothing(client, store):
    for body in ({"hyper_params": {}, "if_exists": "maybe"}, {"if_exists": True},
                 {"if_exists": "skip", "sweep": {"seed": [1]}, "hyper_params": {},
                  "task": "nope"}):
        r = post(client, "/train" if "sweep" not in body else "/sweep", body)
        assert r.status_code == 400, body
        assert r.json["field"] in ("if_exists", "task")
    assert store.counts()["total"] == 0


def test_the_client_and_the_cli_skip(live_app, store, capsys):
    from mltrack import cli
    from mltrack.client import Client
    with Client(live_app) as api:
        first = api.submit({"seed": 4})
        assert api.submit({"seed": 4}, if_exists="skip") == first
        second = api.submit({"seed": 4})
        assert second != first  # run: the default
        grid = api.sweep({}, {"seed": [4, 5]}, if_exists="skip")
        assert grid[0] == second and grid[1] not in (first, second)  # the newest waiting
    assert cli.main(["--url", live_app, "submit", "--seed", "5", "--if-exists", "skip"]) == 0
    assert capsys.readouterr().out.strip() == grid[1]
    assert store.counts()["total"] == 3


def test_skip_looks_and_creates_in_one_step(store):
    """Requests racing with the same hyperparameters queue one job between them."""
    import threading

    params = MNIST.parse({"seed": 11})
    barrier, got = threading.Barrier(6), []

    def ask():
        barrier.wait()
        got.append(fingerprints.create_missing(store, MNIST, [params])[0][0])

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 6 and len(set(got)) == 1
    assert store.counts()["total"] == 1
