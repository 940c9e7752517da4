"""Tracked runs over REST (POST /runs, /runs/<iid>/log, /heartbeat, /finish)
and GET /experiments.csv, through Flask's test client on the real store."""
from __future__ import annotations

import csv
import io
import json
import time

import pytest

from mltrack.params import HyperParams
from mltrack.store import Status
from sample_tasks import QUADRATIC


def post(client, path, body):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json")


def start(client, task="my-exp", **body):
    r = post(client, "/runs", {"task": task, **body})
    assert r.status_code == 201, r.json
    return r.json["iid"], r.json["token"]


def log(client, iid, token, epoch, **metrics):
    return post(client, f"/runs/{iid}/log", {"token": token, "epoch": epoch, "metrics": metrics})


def lease_end(store, iid):
    return store.redis.zscore(store.keys.leases, iid)


def test_a_tracked_run_is_running_at_once_and_never_queued(client, store):
    r = post(client, "/runs", {"task": "my-exp", "hyper_params": {"lr": 0.01, "layers": 4},
                               "num_epochs": 10, "lease": 30})
    assert r.status_code == 201 and r.headers["Location"] == f"/status/{r.json['iid']}"
    assert r.json["attempt"] == 1 and r.json["lease"] == 30 and len(r.json["token"]) >= 32
    job = store.get(r.json["iid"])
    assert job.status is Status.RUNNING and job.tracked and job.num_epochs == 10
    assert job.hyper_params == {"lr": 0.01, "layers": 4} and job.started is not None
    assert store.queue_length("my-exp") == 0 and store.queue_length() == 0
    assert store.claim("w", tasks=store.schemas()) is None  # no worker can take it
    assert lease_end(store, job.iid) == pytest.approx(time.time() + 30, abs=5)
    status = client.get(f"/status/{job.iid}").json
    assert status["status"] == "running" and status["tracked"] is True
    assert r.json["token"] not in json.dumps(status)  # the secret is never shown again
    assert r.json["token"] not in json.dumps(store.redis.hgetall(store.keys.job(job.iid)))
    listed = client.get("/experiments?status=running&task=my-exp").json
    assert [j["iid"] for j in listed["results"]] == [job.iid]


def test_logged_epochs_show_in_status_and_sort_by_their_metrics(client, store):
    runs = {}
    for lr, final in ((0.1, 0.30), (0.01, 0.10), (0.001, 0.20)):
        iid, token = start(client, hyper_params={"lr": lr})
        for epoch in (1, 2):
            loss = final * (3 - epoch)  # epoch 2 logs `final`
            assert log(client, iid, token, epoch, loss=loss, val_acc=1 - loss).json == {"ok": True}
        runs[iid] = final
    status = client.get(f"/status/{next(iter(runs))}").json
    assert status["in_update"]["epoch"] == [1, 2]
    assert status["in_update"]["loss"] == [0.6, 0.3] and status["loss"] == 0.3
    assert status["best_loss"] == 0.3 and status["epochs_done"] == 2 and status["runtime"] >= 0
    body = client.get("/experiments?sort=loss").json  # loss: minimised, from its name
    assert body["order"] == "asc"
    assert [j["iid"] for j in body["results"]] == sorted(runs, key=runs.get)
    body = client.get("/experiments?sort=val_acc&task=my-exp").json  # the rest: maximised
    assert body["order"] == "desc" and [j["iid"] for j in body["results"]] == sorted(
        runs, key=runs.get)
    body = client.get("/experiments?sort=lr").json  # a tracked hyperparameter sorts too
    assert [j["hyper_params"]["lr"] for j in body["results"]] == [0.001, 0.01, 0.1]


def test_epochs_may_skip_but_never_go_back(client, store):
    iid, token = start(client)
    assert log(client, iid, token, 1, loss=1.0).status_code == 200
    assert log(client, iid, token, 5, loss=0.5).status_code == 200
    r = log(client, iid, token, 3, loss=0.7)
    assert r.status_code == 400 and r.json["field"] == "epoch" and "at least 6" in r.json["error"]
    r = log(client, iid, token, 5, loss=0.4)  # epoch 5 again, other values: not a resend
    assert r.status_code == 400 and r.json["field"] == "epoch"
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 5]
    assert store.get(iid).metrics == {"loss": 0.5}


def test_a_log_sent_again_after_a_lost_reply_is_recorded_once(client, store):
    iid, token = start(client)
    assert log(client, iid, token, 1, loss=0.5, acc=0.9).status_code == 200
    assert log(client, iid, token, 1, loss=0.5, acc=0.9).status_code == 200
    assert len(store.epochs(iid)) == 1
    assert post(client, f"/runs/{iid}/finish", {"token": token, "status": "done"}).json == {
        "ok": True}
    assert post(client, f"/runs/{iid}/finish", {"token": token, "status": "done"}).status_code \
        == 200  # sent again: the same answer, nothing changes
    assert store.get(iid).status is Status.DONE


def test_heartbeat_renews_the_lease_and_shows_progress(client, store):
    iid, token = start(client, lease=5)
    before = lease_end(store, iid)
    time.sleep(0.05)
    r = post(client, f"/runs/{iid}/heartbeat", {"token": token, "progress": {"done": 3,
                                                                             "total": 12}})
    assert r.status_code == 200 and r.json == {"ok": True}
    assert lease_end(store, iid) > before
    progress = store.get(iid).progress
    assert (progress["epoch"], progress["batch"], progress["batches"]) == (1, 3, 12)
    before = lease_end(store, iid)
    time.sleep(0.05)
    assert log(client, iid, token, 1, loss=0.1).status_code == 200  # a log renews it too
    assert lease_end(store, iid) > before


def test_a_run_whose_lease_runs_out_fails_as_lost_and_is_not_requeued(client, store):
    iid, token = start(client, lease=2)
    assert log(client, iid, token, 1, loss=0.3).status_code == 200
    worker_job = store.create(HyperParams())
    claim = store.claim("w1", lease=2)
    assert store.reap(now=time.time() + 1) == {}  # within its lease: nothing happens
    reaped = store.reap(now=time.time() + 10)
    assert reaped == {iid: Status.FAILED, claim.iid: Status.WAITING}  # a worker's job goes back
    job = store.get(iid)
    assert job.status is Status.FAILED and job.finished is not None
    assert job.error.startswith("lost: its script stopped reporting for 2")
    assert "killed, crashed or lost the network" in job.error
    assert store.queue_length("my-exp") == 0 and job.attempts == 1
    assert store.claim("w2", tasks=store.schemas()).iid == worker_job  # never the lost run
    r = post(client, f"/runs/{iid}/heartbeat", {"token": token})
    assert r.status_code == 409 and r.json["current_status"] == "failed"
    r = log(client, iid, token, 2, loss=0.2)
    assert r.status_code == 409 and len(store.epochs(iid)) == 1
    r = post(client, f"/runs/{iid}/finish", {"token": token, "status": "done"})
    assert r.status_code == 409 and store.get(iid).status is Status.FAILED


def test_cancel_ends_a_tracked_run_at_once_and_its_next_write_is_409(client, store):
    iid, token = start(client)
    assert log(client, iid, token, 1, loss=0.3).status_code == 200
    r = post(client, f"/experiments/{iid}/cancel", {})
    assert r.status_code == 200 and r.json == {"iid": iid, "status": "cancelled",
                                               "cancel_requested": False}
    assert store.get(iid).status is Status.CANCELLED and lease_end(store, iid) is None
    for path, body in (("heartbeat", {}), ("log", {"epoch": 2, "metrics": {"loss": 0.2}}),
                       ("finish", {"status": "done"})):
        r = post(client, f"/runs/{iid}/{path}", {"token": token, **body})
        assert r.status_code == 409 and r.is_json and "cancelled" in r.json["error"], path
    assert len(store.epochs(iid)) == 1 and store.get(iid).status is Status.CANCELLED
    assert post(client, f"/experiments/{iid}/cancel", {}).json["status"] == "cancelled"


def test_finish_failed_keeps_the_scripts_error(client, store):
    iid, token = start(client)
    r = post(client, f"/runs/{iid}/finish", {"token": token, "status": "failed",
                                             "error": "ValueError: boom"})
    assert r.status_code == 200
    job = store.get(iid)
    assert job.status is Status.FAILED and job.error == "ValueError: boom"
    assert lease_end(store, iid) is None
    r = post(client, f"/experiments/{iid}/retry", {})  # its script runs it again, not a worker
    assert r.status_code == 409 and "tracked" in r.json["error"]
    assert client.delete(f"/experiments/{iid}").status_code == 200


@pytest.mark.parametrize("path, body", [
    ("log", {"epoch": 1, "metrics": {"loss": 0.1, "brand_new": 1.0}}),
    ("heartbeat", {"progress": {"done": 1, "total": 2}}),
    ("finish", {"status": "done"}),
])
@pytest.mark.parametrize("token", ["not-the-token", "x" * 43])
def test_a_wrong_token_is_403_and_changes_nothing(client, store, path, body, token):
    iid, real = start(client, lease=30)
    assert log(client, iid, real, 1, loss=0.5).status_code == 200
    before = (store.redis.hgetall(store.keys.job(iid)), store.epochs(iid), lease_end(store, iid),
              store.redis.hget(store.keys.tasks, "my-exp"))
    time.sleep(0.01)
    r = post(client, f"/runs/{iid}/{path}", {"token": token, **body})
    assert r.status_code == 403 and r.json["field"] == "token"
    after = (store.redis.hgetall(store.keys.job(iid)), store.epochs(iid), lease_end(store, iid),
             store.redis.hget(store.keys.tasks, "my-exp"))
    assert after == before


@pytest.mark.parametrize("path", ["log", "heartbeat", "finish"])
def test_writes_to_a_job_that_is_not_a_tracked_run_are_404(client, store, path):
    worker_job = store.create(HyperParams())
    store.claim("w")
    tracked_iid, token = start(client, "mnist")  # a real token, of another run
    body = {"token": token, "epoch": 1, "metrics": {"test_accuracy": 1.0}, "status": "done"}
    keys = {"log": ("token", "epoch", "metrics"), "heartbeat": ("token",),
            "finish": ("token", "status")}[path]
    for iid in (worker_job, "0" * 32, "not-an-iid"):
        r = post(client, f"/runs/{iid}/{path}", {k: body[k] for k in keys})
        assert r.status_code == 404 and r.is_json, iid
    assert store.get(worker_job).status is Status.RUNNING and store.epochs(worker_job) == []
    r = post(client, f"/runs/{tracked_iid}/{path}", {k: body[k] for k in keys})
    assert r.status_code == 200  # the same body to its own run is taken


BAD_STARTS = [
    ({}, "task"),
    ({"task": "My Exp"}, "task"),
    ({"task": 7}, "task"),
    ({"task": "x", "hyper_params": {"Lr": 1}}, "Lr"),
    ({"task": "x", "hyper_params": {"epoch": 1}}, "epoch"),
    ({"task": "x", "hyper_params": {"best_lr": 1}}, "best_lr"),
    ({"task": "x", "hyper_params": {"lr": None}}, "lr"),
    ({"task": "x", "hyper_params": {"lr": [0.1]}}, "lr"),
    ({"task": "x", "hyper_params": {"lr": {"a": 1}}}, "lr"),
    ('{"task": "x", "hyper_params": {"lr": 1e400}}', "lr"),
    ('{"task": "x", "hyper_params": {"lr": ' + "9" * 400 + "}}", "lr"),
    ({"task": "x", "hyper_params": {"name": "n" * 201}}, "name"),
    ({"task": "x", "hyper_params": []}, "hyper_params"),
    ({"task": "x", "metrics": {"loss": "down"}}, "loss"),
    ({"task": "x", "metrics": {"Loss": "min"}}, "Loss"),
    ({"task": "x", "metrics": {"time_training": "min"}}, "time_training"),
    ({"task": "x", "hyper_params": {"lr": 0.1}, "metrics": {"lr": "min"}}, "lr"),
    ({"task": "x", "lease": 0}, "lease"),
    ({"task": "x", "lease": "60"}, "lease"),
    ({"task": "x", "num_epochs": 0}, "num_epochs"),
    ({"task": "x", "num_epochs": 2.5}, "num_epochs"),
    ({"task": "x", "priority": 1}, "priority"),
    ('{"task": "x", "lease": NaN}', "body"),
    ("[]", "body"),
    # a task a worker declares: its schema decides
    ({"task": "mnist", "hyper_params": {"lr": 0.1}}, "lr"),
    ({"task": "mnist", "hyper_params": {"learning_rate": 50}}, "learning_rate"),
    ({"task": "mnist", "hyper_params": {"momentum": 0.5}}, "momentum"),
    ({"task": "mnist", "metrics": {"accuracy": "max"}}, "accuracy"),
    ({"task": "mnist", "metrics": {"test_accuracy": "min"}}, "test_accuracy"),
    ({"task": "quadratic", "hyper_params": {"lr": 2}}, "lr"),
    ({"task": "quadratic", "hyper_params": {"steps": "5"}}, "steps"),
]


@pytest.mark.parametrize("body, field", BAD_STARTS,
                         ids=[f"{n}-{f}" for n, (_, f) in enumerate(BAD_STARTS)])
def test_a_bad_start_is_400_naming_the_field_and_changes_nothing(client, store, body, field):
    store.register_task(QUADRATIC)
    tasks_before = store.redis.hgetall(store.keys.tasks)
    r = post(client, "/runs", body)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert len(r.json["error"]) < 400
    assert store.counts()["total"] == 0
    assert store.redis.hgetall(store.keys.tasks) == tasks_before


def test_a_start_that_clashes_with_the_tasks_earlier_runs_is_400(client, store):
    start(client, hyper_params={"lr": 0.1, "opt": "adam", "bn": True}, metrics={"loss": "min"})
    tasks_before = store.redis.hgetall(store.keys.tasks)
    for body, field in [({"hyper_params": {"lr": "fast"}}, "lr"),
                        ({"hyper_params": {"opt": 3}}, "opt"),
                        ({"hyper_params": {"bn": 1}}, "bn"),
                        ({"hyper_params": {"loss": 0.1}}, "loss"),
                        ({"metrics": {"loss": "max"}}, "loss"),
                        ({"metrics": {"lr": "min"}}, "lr")]:
        r = post(client, "/runs", {"task": "my-exp", **body})
        assert r.status_code == 400 and r.json["field"] == field, (body, r.json)
    assert store.counts()["total"] == 1
    assert store.redis.hgetall(store.keys.tasks) == tasks_before


BAD_LOGS = [
    ({"epoch": 0, "metrics": {"loss": 1}}, "epoch"),
    ({"epoch": "1", "metrics": {"loss": 1}}, "epoch"),
    ({"epoch": 1.5, "metrics": {"loss": 1}}, "epoch"),
    ({"epoch": 1, "metrics": {}}, "metrics"),
    ({"epoch": 1, "metrics": [1]}, "metrics"),
    ({"epoch": 1, "metrics": {"loss": "0.1"}}, "loss"),
    ({"epoch": 1, "metrics": {"loss": None}}, "loss"),
    ({"epoch": 1, "metrics": {"Loss": 0.1}}, "Loss"),
    ({"epoch": 1, "metrics": {"epoch": 3}}, "epoch"),
    ({"epoch": 1, "metrics": {"best_loss": 3}}, "best_loss"),
    ({"epoch": 1, "metrics": {"lr": 0.5}}, "lr"),  # a hyperparameter of the task
    ('{"epoch": 1, "metrics": {"loss": 1e400}}', "loss"),
    ('{"epoch": 1, "metrics": {"loss": -' + "9" * 400 + "}}", "loss"),
    ({"metrics": {"loss": 1}}, "epoch"),
    ({"epoch": 1}, "metrics"),
    ({"epoch": 1, "metrics": {"loss": 1}, "step": 3}, "step"),
]


@pytest.mark.parametrize("body, field", BAD_LOGS,
                         ids=[f"{n}-{f}" for n, (_, f) in enumerate(BAD_LOGS)])
def test_a_bad_log_is_400_naming_the_field_and_changes_nothing(client, store, body, field):
    iid, token = start(client, hyper_params={"lr": 0.1})
    tasks_before = store.redis.hgetall(store.keys.tasks)
    if isinstance(body, str):
        body = body.replace("{", '{"token": "%s", ' % token, 1)
    else:
        body = {"token": token, **body}
    r = post(client, f"/runs/{iid}/log", body)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert store.epochs(iid) == [] and store.get(iid).metrics == {}
    assert store.redis.hgetall(store.keys.tasks) == tasks_before


@pytest.mark.parametrize("path, body, field", [
    ("log", {"epoch": 1, "metrics": {"loss": 1}}, "token"),
    ("log", {"token": "", "epoch": 1, "metrics": {"loss": 1}}, "token"),
    ("log", {"token": 5, "epoch": 1, "metrics": {"loss": 1}}, "token"),
    ("heartbeat", {}, "token"),
    ("heartbeat", {"progress": {"done": -1, "total": 5}}, "done"),
    ("heartbeat", {"progress": {"done": 1}}, "total"),
    ("heartbeat", {"progress": {"done": 1, "total": 0}}, "total"),
    ("heartbeat", {"progress": [1, 2]}, "progress"),
    ("finish", {}, "status"),
    ("finish", {"status": "cancelled"}, "status"),
    ("finish", {"status": "done", "error": 5}, "error"),
    ("finish", {"status": "failed", "traceback": "x"}, "traceback"),
])
def test_bad_heartbeat_and_finish_bodies_are_400_naming_the_field(client, store, path, body,
                                                                  field):
    iid, token = start(client)
    if field != "token":
        body = {"token": token, **body}
    before = store.redis.hgetall(store.keys.job(iid))
    r = post(client, f"/runs/{iid}/{path}", body)
    assert r.status_code == 400 and r.json["field"] == field, r.json
    assert store.redis.hgetall(store.keys.job(iid)) == before


def test_a_log_into_a_worker_task_takes_only_its_declared_metrics(client, store):
    iid, token = start(client, "mnist", hyper_params={"learning_rate": 0.01})
    job = store.get(iid)
    assert job.hyper_params == HyperParams(learning_rate=0.01).to_dict()  # defaults filled
    r = log(client, iid, token, 1, loss=0.1)
    assert r.status_code == 400 and r.json["field"] == "loss" and "declared" in r.json["error"]
    assert log(client, iid, token, 1, test_accuracy=98.5, test_loss=0.05).status_code == 200
    assert store.get(iid).best == {"test_accuracy": 98.5, "test_loss": 0.05}
    assert "mnist" not in store.redis.hgetall(store.keys.tasks)  # its schema: untouched


def test_tracking_into_a_registered_worker_task_checks_against_its_schema(client, store):
    store.register_task(QUADRATIC)
    before = store.redis.hget(store.keys.tasks, "quadratic")
    iid, token = start(client, "quadratic", hyper_params={"lr": 0.5, "steps": 3},
                       metrics={"loss": "min"})
    assert store.get(iid).hyper_params == {**QUADRATIC.defaults(), "lr": 0.5, "steps": 3}
    assert log(client, iid, token, 1, loss=1.0, x=0.5).status_code == 200
    assert store.redis.hget(store.keys.tasks, "quadratic") == before
    assert client.get("/tasks/quadratic").json["tracked"] is False


def test_a_tracked_tasks_schema_is_inferred_and_grows_with_its_runs(client, store):
    iid, token = start(client, hyper_params={"lr": 1, "opt": "adam", "bn": True, "layers": 4},
                       metrics={"val_acc": "max"})
    task = client.get("/tasks/my-exp").json
    assert task["tracked"] is True and task["primary"] == "val_acc"
    assert {n: p["type"] for n, p in task["params"].items()} == {
        "lr": "int", "opt": "choice", "bn": "bool", "layers": "int"}
    start(client, hyper_params={"lr": 0.5, "opt": "SGD", "dropout": 0.1})
    assert log(client, iid, token, 1, val_acc=0.8, train_loss=0.3).status_code == 200
    task = client.get("/tasks/my-exp").json
    assert task["params"]["lr"]["type"] == "float"  # a fraction widened it
    assert task["params"]["opt"]["options"] == ["adam", "SGD"]
    assert task["params"]["dropout"]["type"] == "float"
    assert [(m["name"], m["goal"]) for m in task["metrics"]] == [("val_acc", "max"),
                                                                   ("train_loss", "min")]
    again, _ = start(client, hyper_params={"opt": "sgd"})  # an option, matched without case
    assert store.get(again).hyper_params == {"opt": "SGD"}
    assert client.get("/tasks/my-exp").json["params"]["opt"]["options"] == ["adam", "SGD"]


def test_a_tracked_task_before_any_metric_is_listed_by_task(client, store):
    iid, _ = start(client, "fresh")
    body = client.get("/experiments?task=fresh").json
    assert [j["iid"] for j in body["results"]] == [iid]
    assert [j["iid"] for j in client.get("/experiments").json["results"]] == [iid]


def test_a_tracked_task_before_any_metric_shows_in_tasks(client, store):
    """The script that crashes before its first log: its task shows, with its
    hyperparameters and no metric, and still nothing can be queued for it."""
    iid, _ = start(client, "fresh", hyper_params={"lr": 0.1})
    task = client.get("/tasks/fresh")
    assert task.status_code == 200, task.json
    assert task.json["tracked"] is True and task.json["metrics"] == []
    assert task.json["primary"] is None and task.json["params"]["lr"]["type"] == "float"
    listed = client.get("/tasks").json
    assert "fresh" in [t["name"] for t in listed["tasks"]] and listed["total"] == 2  # + mnist
    r = post(client, "/train", {"task": "fresh", "hyper_params": {"lr": 0.2}})
    assert r.status_code == 400 and r.json["field"] == "task" and "tracked" in r.json["error"]
    assert client.get("/tasks/nothing").status_code == 404


def test_nothing_can_be_queued_for_a_task_only_scripts_track(client, store):
    iid, token = start(client, hyper_params={"lr": 0.1})
    log(client, iid, token, 1, loss=0.5)
    for path, body in (("/train", {"task": "my-exp", "hyper_params": {"lr": 0.2}}),
                       ("/sweep", {"task": "my-exp", "sweep": {"lr": [0.2, 0.3]}})):
        r = post(client, path, body)
        assert r.status_code == 400 and r.json["field"] == "task" and "tracked" in r.json["error"]
    assert store.counts()["total"] == 1 and store.queue_length("my-exp") == 0


def test_a_worker_that_declares_a_tracked_tasks_name_takes_it_over(client, store):
    iid, token = start(client, "quadratic", hyper_params={"anything": 1})
    log(client, iid, token, 1, loss=0.5)
    assert store.register_task(QUADRATIC)  # no "schema changed" warning for a tracked one
    assert client.get("/tasks/quadratic").json["tracked"] is False
    r = post(client, "/runs", {"task": "quadratic", "hyper_params": {"anything": 1}})
    assert r.status_code == 400 and r.json["field"] == "anything"
    assert log(client, iid, token, 2, loss=0.25).status_code == 200  # the run goes on


# -- GET /experiments.csv ---------------------------------------------------------------
def read_csv(r):
    assert r.status_code == 200 and r.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))


def test_csv_rows_are_the_listings_rows_in_its_order(client, store):
    finals = [0.5, 0.1, 0.9, 0.3, 0.7]
    for n, final in enumerate(finals):
        iid, token = start(client, hyper_params={"lr": 10.0 ** -n, "opt": "adam"})
        log(client, iid, token, 1, loss=final + 1, acc=1 - final)
        log(client, iid, token, 2, loss=final, acc=1 - final / 2)
    for query in ("sort=loss", "sort=acc&order=asc", "sort=created", "sort=lr&q=adam",
                  "task=my-exp&sort=best_acc", "status=running&sort=loss&offset=2&limit=2"):
        rows = read_csv(client.get(f"/experiments.csv?{query}"))
        listed = client.get(f"/experiments?{query}").json["results"]
        assert [r["iid"] for r in rows] == [j["iid"] for j in listed], query
        for row, job in zip(rows, listed):
            assert float(row["loss"]) == job["loss"] and float(row["best_acc"]) == job["best_acc"]
            assert float(row["lr"]) == job["hyper_params"]["lr"] and row["opt"] == "adam"
            assert row["task"] == "my-exp" and row["status"] == "running"


def test_csv_has_every_matching_row_not_one_page(client, store, monkeypatch):
    from mltrack import export
    monkeypatch.setattr(export, "PAGE", 3)  # pages of 3: 8 jobs take three reads
    iids = [store.create(HyperParams(seed=n)) for n in range(8)]
    store.create(HyperParams(seed=99, model="mlp"))
    rows = read_csv(client.get("/experiments.csv?q=cnn&sort=seed"))
    assert [r["iid"] for r in rows] == iids and [int(r["seed"]) for r in rows] == list(range(8))
    assert len(read_csv(client.get("/experiments.csv"))) == 9
    streamed = client.get("/experiments.csv?q=cnn&sort=seed", buffered=False)
    assert streamed.is_streamed  # a page at a time, never the whole list in memory
    chunks = [c.decode() for c in streamed.response]
    assert len(chunks) == 3 and [len(c.splitlines()) for c in chunks] == [4, 3, 2]
    assert len(read_csv(client.get("/experiments.csv?limit=4&offset=3"))) == 4
    header = client.get("/experiments.csv?task=mnist").get_data(as_text=True).splitlines()[0]
    assert header.split(",")[:3] == ["iid", "task", "status"]
    assert "test_accuracy" in header and "best_test_accuracy" in header
    assert header.count("num_epochs") == 1  # mnist's epochs parameter is the record's column


def test_csv_is_an_attachment_and_refuses_what_the_listing_refuses(client, store):
    r = client.get("/experiments.csv?task=mnist")
    assert r.headers["Content-Disposition"] == (
        'attachment; filename="mltrack-experiments-mnist.csv"')
    for query, field in (("sort=accuracy", "sort"), ("order=up", "order"),
                         ("status=lost", "status"), ("limit=0", "limit"), ("offset=-1", "offset"),
                         ("sortby=created", "sortby"), ("task=cubic", "task"),
                         ("q=test_acc>97", "q")):
        for path in ("/experiments", "/experiments.csv"):
            r = client.get(f"{path}?{query}")
            assert r.status_code == 400 and r.is_json and r.json["field"] == field, (path, query)


def test_csv_cells_a_spreadsheet_would_run_are_quoted(client, store):
    iid, token = start(client, hyper_params={"note": "=HYPERLINK(\"http://x\")", "shift": -1})
    client.put(f"/experiments/{iid}/note", json={"note": "=1+1"})  # the run's own note too
    rows = read_csv(client.get("/experiments.csv"))
    # a hyperparameter named like a record column (the run's note) is hyper_params.<name>
    assert rows[0]["hyper_params.note"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["note"] == "'=1+1"
    assert rows[0]["shift"] == "-1"  # a number stays a number


def test_a_refused_log_does_not_add_its_metrics_to_the_task(client, store):
    iid, token = start(client)
    assert log(client, iid, token, 3, loss=0.5).status_code == 200
    before = store.redis.hget(store.keys.tasks, "my-exp")
    r = log(client, iid, token, 2, loss=0.4, brand_new=1.0)  # an epoch gone by
    assert r.status_code == 400 and r.json["field"] == "epoch"
    post(client, f"/experiments/{iid}/cancel", {})
    r = log(client, iid, token, 4, loss=0.4, other_new=1.0)  # a run that no longer runs
    assert r.status_code == 409
    assert store.redis.hget(store.keys.tasks, "my-exp") == before
    assert "brand_new" not in before and "other_new" not in before


# -- the reviewer's findings (issue 11, tried as an attacker) ------------------------------
RECORD_NAMES = ["cancel_requested", "num_epochs", "tracked", "traceback", "in_update",
                "attempts", "worker"]


@pytest.mark.parametrize("name", RECORD_NAMES)
def test_a_metric_cannot_take_a_name_of_the_job_record(client, store, name):
    iid, token = start(client, "t2")
    r = post(client, f"/runs/{iid}/log", {"token": token, "epoch": 1,
                                          "metrics": {name: 3.0, "loss": 0.5}})
    assert r.status_code == 400 and r.json["field"] == name, r.json
    r = post(client, "/runs", {"task": "t2", "metrics": {name: "min"}})
    assert r.status_code == 400 and r.json["field"] == name, r.json
    status = client.get(f"/status/{iid}").json
    assert status["cancel_requested"] is False and status["tracked"] is True
    assert status["epochs_done"] == 0 and status["num_epochs"] is None


def test_a_metric_never_replaces_a_record_field_in_what_the_api_shows():
    from mltrack.api import serialize_job, serialize_status
    from mltrack.store import Job
    job = Job.from_hash({"iid": "a" * 32, "task": "t", "status": "running", "hyper_params": "{}",
                         "created": "1", "attempts": "1", "tracked": "1", "num_epochs": "3",
                         "m:num_epochs": "2.5", "m:tracked": "0", "m:loss": "0.1",
                         "b:loss": "0.1"})
    out = serialize_job(job)
    assert out["num_epochs"] == 3 and out["tracked"] is True and out["loss"] == 0.1
    assert serialize_status(job, [])["num_epochs"] == 3


def test_csv_takes_a_limit_above_a_pages(client, store):
    for lr in range(3):
        start(client, hyper_params={"lr": lr})
    r = client.get("/experiments.csv?limit=5000")
    assert r.status_code == 200 and len(read_csv(r)) == 3
    r = client.get("/experiments.csv?limit=2")
    assert r.status_code == 200 and len(read_csv(r)) == 2
    r = client.get("/experiments.csv?limit=0")
    assert r.status_code == 400 and r.json["field"] == "limit"


def test_a_write_after_a_cancel_or_a_loss_says_so_plainly(client, store):
    cancelled, token = start(client)
    post(client, f"/experiments/{cancelled}/cancel", {})
    lost, lost_token = start(client, lease=1)
    store.reap(now=time.time() + 10)
    for iid, tok, said in ((cancelled, token, "the run was cancelled (in the dashboard or "
                                              "with the API); stop training"),
                           (lost, lost_token, "the run was failed as lost: its script stopped "
                                              "reporting for 1.0 s")):
        for path, body in (("heartbeat", {}), ("log", {"epoch": 1, "metrics": {"loss": 0.2}}),
                           ("finish", {"status": "done"})):
            r = post(client, f"/runs/{iid}/{path}", {"token": tok, **body})
            assert r.status_code == 409 and r.json["error"].startswith(said), r.json
            assert "cannot become" not in r.json["error"]
    done, token = start(client)
    post(client, f"/runs/{done}/finish", {"token": token, "status": "done"})
    r = post(client, f"/runs/{done}/finish", {"token": token, "status": "failed"})
    assert r.status_code == 409 and r.json == {
        "error": "the run has ended already, as done", "current_status": "done"}


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_string_hyperparameter_is_refused_naming_it(client, store, value):
    start(client, "t8", hyper_params={"opt": "adam"})
    r = post(client, "/runs", {"task": "t8", "hyper_params": {"opt": value}})
    assert r.status_code == 400 and r.json["field"] == "opt" and "empty" in r.json["error"]
    r = post(client, "/runs", {"task": "t9", "hyper_params": {"opt": value}})
    assert r.status_code == 400 and r.json["field"] == "opt"
    assert store.task_entry("t8")["params"]["opt"]["options"] == ["adam"]
    assert "t9" not in store.task_entries() and store.counts().get("running") == 1


@pytest.mark.parametrize("value", ["a\nb", "adam\t2", "x\x00", "bell\x07"])
def test_a_string_hyperparameter_with_control_characters_is_refused(client, store, value):
    """A newline in an option split `mltrack ls` rows and the task's option list."""
    start(client, "t10", hyper_params={"opt": "adam"})
    r = post(client, "/runs", {"task": "t10", "hyper_params": {"opt": value}})
    assert r.status_code == 400 and r.json["field"] == "opt"
    assert "control characters" in r.json["error"]
    assert store.task_entry("t10")["params"]["opt"]["options"] == ["adam"]
    assert store.counts().get("running") == 1
    # spaces around are dropped as before, and any other script is welcome
    assert post(client, "/runs", {"task": "t10", "hyper_params": {"opt": " ｆｕｌｌ हिंदी "}}
                ).status_code == 201


def test_a_declared_tasks_epochs_come_from_its_hyperparameters(client, store):
    """The rule: a worker's task (or mnist) says its epochs in a hyperparameter
    (quadratic's steps, mnist's num_epochs); a body's num_epochs must agree or be
    left out. A run never logs an epoch above its num_epochs."""
    store.register_task(QUADRATIC)
    r = post(client, "/runs", {"task": "quadratic", "hyper_params": {"steps": 5},
                               "num_epochs": 413})
    assert r.status_code == 400 and r.json["field"] == "num_epochs"
    assert "steps" in r.json["error"] and "5" in r.json["error"]
    assert store.counts()["total"] == 0
    iid, _ = start(client, "quadratic", hyper_params={"steps": 5})
    assert client.get(f"/status/{iid}").json["num_epochs"] == 5
    iid, _ = start(client, "quadratic", hyper_params={"steps": 4}, num_epochs=4)  # agrees
    assert store.get(iid).num_epochs == 4
    iid, token = start(client, "mnist", hyper_params={"num_epochs": 1})
    metrics = {"test_accuracy": 90.0}
    assert log(client, iid, token, 1, **metrics).status_code == 200
    r = log(client, iid, token, 2, **metrics)
    assert r.status_code == 400 and r.json["field"] == "epoch" and "num_epochs 1" in r.json["error"]
    assert len(store.epochs(iid)) == 1
    iid, token = start(client, "mine", num_epochs=2)  # a tracked task's: the body's
    assert log(client, iid, token, 2, loss=0.1).status_code == 200
    assert log(client, iid, token, 3, loss=0.1).status_code == 400


def test_a_tracked_task_has_at_most_64_hyperparameters_and_64_metrics(client, store):
    from mltrack.tracking import MAX_METRICS, MAX_PARAMS
    assert MAX_PARAMS == MAX_METRICS == 64
    many = {f"p{i}": i for i in range(65)}
    r = post(client, "/runs", {"task": "big", "hyper_params": many})
    assert r.status_code == 400 and r.json["field"] == "hyper_params", r.json
    assert store.task_entry("big") is None and store.counts()["total"] == 0
    r = post(client, "/runs", {"task": "big", "metrics": {f"m{i}": "min" for i in range(65)}})
    assert r.status_code == 400 and r.json["field"] == "metrics"
    iid, token = start(client, "big", hyper_params={f"p{i}": i for i in range(60)})
    r = post(client, "/runs", {"task": "big", "hyper_params": {f"q{i}": i for i in range(5)}})
    assert r.status_code == 400 and r.json["field"] == "hyper_params"
    assert "64" in r.json["error"] and len(store.task_entry("big")["params"]) == 60
    assert log(client, iid, token, 1, **{f"m{i}": 1.0 for i in range(60)}).status_code == 200
    r = log(client, iid, token, 2, **{f"n{i}": 1.0 for i in range(5)})
    assert r.status_code == 400 and r.json["field"] == "metrics" and "64" in r.json["error"]
    assert len(store.task_entry("big")["metrics"]) == 60 and len(store.epochs(iid)) == 1
    r = log(client, iid, token, 2, **{f"m{i}": 2.0 for i in range(60)}, n0=1.0)  # 61: fine
    assert r.status_code == 200


def test_an_error_listing_names_lists_the_first_20(client, store):
    iid, token = start(client, "wide", hyper_params={f"p{i}": i for i in range(60)})
    log(client, iid, token, 1, **{f"m{i}": 1.0 for i in range(60)})
    for query in ("sort=nope&task=wide", "sort=nope"):
        r = client.get(f"/experiments?{query}")
        assert r.status_code == 400 and r.json["field"] == "sort"
        assert len(r.json["error"]) < 600 and " more" in r.json["error"], r.json
    for i in range(30):  # declared tasks: /train lists those it could queue for
        store.register_task(QUADRATIC.__class__(f"task{i}", QUADRATIC.params, QUADRATIC.metrics,
                                                QUADRATIC.epochs))
    r = post(client, "/train", {"task": "nope"})
    assert r.status_code == 400 and len(r.json["error"]) < 600 and " more" in r.json["error"]


def test_a_tracked_task_with_no_runs_left_can_be_removed(client, store):
    iid, token = start(client, "gone", hyper_params={"lr": 0.1})
    log(client, iid, token, 1, loss=0.5)
    r = client.delete("/tasks/gone")
    assert r.status_code == 409 and "1 run" in r.json["error"]
    assert client.get("/tasks/gone").status_code == 200
    post(client, f"/runs/{iid}/finish", {"token": token, "status": "done"})
    assert client.delete(f"/experiments/{iid}").status_code == 200
    r = client.delete("/tasks/gone")
    assert r.status_code == 200 and r.json == {"name": "gone", "deleted": True}
    assert client.get("/tasks/gone").status_code == 404 and store.task_entry("gone") is None
    assert "gone" not in [t["name"] for t in client.get("/tasks").json["tasks"]]
    assert client.delete("/tasks/gone").status_code == 404
    start(client, "gone", hyper_params={"lr": "adam"})  # the name is free again, any type
    store.register_task(QUADRATIC)
    for name in ("quadratic", "mnist"):
        r = client.delete(f"/tasks/{name}")
        assert r.status_code == 409 and "worker" in r.json["error"], r.json
    assert store.task_entry("quadratic") is not None
    assert client.delete("/tasks/nothing").status_code == 404


@pytest.mark.parametrize("path", ["/experiments", "/experiments.csv"])
def test_a_query_parameter_given_twice_is_refused(client, store, path):
    r = client.get(f"{path}?offset=1&offset=x")
    assert r.status_code == 400 and r.json["field"] == "offset" and "once" in r.json["error"]


def test_a_write_to_a_deleted_run_is_410_gone(client, store):
    iid, token = start(client)
    post(client, f"/experiments/{iid}/cancel", {})
    assert client.delete(f"/experiments/{iid}").status_code == 200
    for path, body in (("heartbeat", {}), ("log", {"epoch": 1, "metrics": {"loss": 0.2}}),
                       ("finish", {"status": "done"})):
        r = post(client, f"/runs/{iid}/{path}", {"token": token, **body})
        assert r.status_code == 410 and r.json["error"] == "the run was deleted; stop training"
    r = post(client, f"/runs/{'0' * 32}/heartbeat", {"token": token})
    assert r.status_code == 404  # never was
