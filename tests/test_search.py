"""Searches on Optuna: the REST API, the driver (ask, reserve, queue, tell),
its reconciliation after a crash at each step, two drivers on one Redis,
pruning by the worker, cancel, retry of a trial. Real Redis, real workers
(threads) on fast tasks; no MNIST."""
from __future__ import annotations

import statistics
import threading
import time

import pytest

import mltrack
from mltrack.search import search_record
from mltrack.search.driver import SearchDriver
from mltrack.search.study import distributions, open_study
from mltrack.store import Status
from mltrack.store.searches import SearchStore, trial_iid
from mltrack.worker import Worker, WorkerConfig
from sample_tasks import QUADRATIC
from sample_tasks import TASK as QUAD_TASK
from helpers import wait_for

# -- a task made for pruning: its score is `q` at every epoch, so the median
# pruner's decision depends on q alone; each epoch is 4 batches, and every
# batch it runs is written down (to see that a pruned trial stops within one)
BATCHES: list[tuple[float, int, int]] = []


def _ramp(params, run):
    for epoch in range(run.epochs_done + 1, params["rounds"] + 1):
        for batch in range(4):
            if run.should_stop():
                return
            BATCHES.append((params["q"], epoch, batch))
        run.log(epoch, {"score": params["q"]})


RAMP = mltrack.Task(name="ramp", params={"q": mltrack.Float(0.5, low=0, high=1),
                                         "rounds": mltrack.Int(4, low=1, high=20)},
                    metrics=[mltrack.Metric("score", goal="max")], train=_ramp, epochs="rounds")

SPACE = {"lr": {"low": 0.01, "high": 0.5, "log": True}, "method": ["gd", "momentum"]}


def body(**changes):
    out = {"task": "quadratic", "space": SPACE, "fixed": {"steps": 3}, "trials": 6,
           "sampler": "tpe", "parallel": 2}
    out.update(changes)
    return out


@pytest.fixture
def quad(store):
    store.register_task(QUADRATIC)
    store.register_task(RAMP.schema)
    return store


class Fleet:
    """Search drivers and workers as threads on the test's store, stopped at the end."""

    def __init__(self, store):
        self.store, self.stop, self.threads = store, threading.Event(), []

    def driver(self, **kw) -> SearchDriver:
        driver = SearchDriver(self.store, self.stop, tick=kw.pop("tick", 0.05), **kw)
        self._start(driver.run)
        return driver

    def workers(self, tasks, count=2) -> None:
        for n in range(count):
            worker = Worker(self.store, tasks, name=f"test-worker-{n}", stop_event=self.stop,
                            config=WorkerConfig(idle_poll=0.02), data_dir="/tmp/mltrack-test")
            self._start(worker.run)

    def _start(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def fleet(quad):
    running = Fleet(quad)
    yield running
    running.close()


def until_ended(client, search_id, timeout=120):
    """The search once it has ended (Optuna's samplers on a busy 2-core machine are slow:
    a generous timeout; it returns as soon as the search ends)."""
    return wait_for(lambda: (lambda r: r if r["status"] != "running" else None)(
        client.get(f"/searches/{search_id}").get_json()), timeout=timeout, step=0.05)


def study_of(store, search_id):
    return open_study(store, search_id, SearchStore(store).get(search_id)["spec"])


# -- the REST API ------------------------------------------------------------------
def test_a_search_runs_exactly_its_trials_as_jobs(client, quad, fleet):
    answer = client.post("/searches", json=body(name="first", seed=3))
    assert answer.status_code == 201, answer.get_json()
    record = answer.get_json()
    assert answer.headers["Location"] == f"/searches/{record['id']}"
    assert record["status"] == "running" and record["trials"] == 6 and record["name"] == "first"
    assert record["objective"] == {"metric": "loss", "goal": "min"}  # the task's primary
    assert client.get("/searches").get_json()["searches"][0]["id"] == record["id"]
    fleet.driver()
    fleet.workers(QUAD_TASK)
    done = until_ended(client, record["id"])
    assert done["status"] == "done" and done["ended"] is not None
    assert done["started"] == done["finished"] == done["done"] == 6 and len(done["iids"]) == 6
    # every trial is an ordinary job of the table, linked to its search, sortable
    listed = client.get(f"/experiments?search={record['id']}&sort=loss").get_json()
    assert listed["total"] == 6
    assert {j["iid"] for j in listed["results"]} == set(done["iids"])
    assert sorted(j["trial"] for j in listed["results"]) == list(range(6))
    assert all(j["search"] == record["id"] and j["hyper_params"]["steps"] == 3
               for j in listed["results"])
    losses = [j["loss"] for j in listed["results"]]
    assert losses == sorted(losses)
    assert done["best"]["value"] == losses[0] and done["best"]["iid"] == listed["results"][0]["iid"]
    # Optuna was told each one's last loss
    trials = study_of(quad, record["id"]).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    by_number = {j["trial"]: j for j in listed["results"]}
    assert all(t.value == by_number[t.number]["loss"] for t in trials)
    assert all(t.params["lr"] == by_number[t.number]["hyper_params"]["lr"] for t in trials)
    # another job is not in the search's listing
    client.post("/train", json={"task": "quadratic", "hyper_params": {}})
    assert client.get(f"/experiments?search={record['id']}").get_json()["total"] == 6


def test_an_unknown_search_is_404(client, quad):
    assert client.get("/searches/" + "0" * 32).status_code == 404
    assert client.post("/searches/" + "0" * 32 + "/cancel", json={}).status_code == 404
    assert client.get("/searches/nope").status_code == 404


# Each bad body, the field its 400 names. The task is quadratic: x0 in
# [-10, 10], lr in [1e-4, 1] (log), steps 1..100, method gd|momentum, beta
# (momentum only) in [0, 1], noisy true|false; metrics loss (min) and x (max).
BAD_BODIES = [
    ("empty range", body(space={"lr": {"low": 0.1, "high": 0.1}}), "space.lr"),
    ("low above high", body(space={"lr": {"low": 0.5, "high": 0.1}}), "space.lr"),
    ("log with low <= 0", body(space={"x0": {"low": -1, "high": 1, "log": True}}), "space.x0"),
    ("a name the task lacks", body(space={"momentum": [0.1]}), "space.momentum"),
    ("a range beyond the param's bounds", body(space={"lr": {"low": 0.01, "high": 5}}),
     "space.lr"),
    ("a choice not allowed", body(space={"method": ["gd", "adam"]}), "space.method"),
    ("an Int range of fractions", body(space={"steps": {"low": 1.5, "high": 4}}), "space.steps"),
    ("a range for a choice", body(space={"method": {"low": 0, "high": 1}}), "space.method"),
    ("a range with an unknown key", body(space={"lr": {"low": 0.1, "high": 0.2, "step": 0.1}}),
     "space.lr"),
    ("no values to choose from", body(space={"method": []}), "space.method"),
    ("a space entry that is neither", body(space={"lr": "0.1"}), "space.lr"),
    ("an empty space", body(space={}), "space"),
    ("no space at all", {k: v for k, v in body().items() if k != "space"}, "space"),
    ("a fixed value out of bounds", body(fixed={"steps": 0}), "fixed.steps"),
    ("a fixed name the task lacks", body(fixed={"epochs": 3}), "fixed.epochs"),
    ("a param both in space and fixed", body(fixed={"lr": 0.1}), "fixed.lr"),
    ("a fixed param that applies to no trial",
     body(space={"lr": {"low": 0.01, "high": 0.1}}, fixed={"method": "gd", "beta": 0.5}),
     "fixed.beta"),
    ("an unknown sampler", body(sampler="bayes"), "sampler"),
    ("an unknown pruner", body(pruner="hyperband"), "pruner"),
    ("no trials", body(trials=0), "trials"),
    ("too many trials", body(trials=10_001), "trials"),
    ("trials as text", body(trials="8"), "trials"),
    ("trials missing", {k: v for k, v in body().items() if k != "trials"}, "trials"),
    ("parallel below 1", body(parallel=0), "parallel"),
    ("parallel fractional", body(parallel=1.5), "parallel"),
    ("an objective the task lacks", body(objective={"metric": "accuracy"}), "objective.metric"),
    ("an objective goal that is none", body(objective={"metric": "x", "goal": "up"}),
     "objective.goal"),
    ("an objective with an unknown key", body(objective={"metric": "x", "weight": 1}),
     "objective.weight"),
    ("grid over a float range", body(sampler="grid"), "space.lr"),
    ("grid with more trials than points", body(sampler="grid", space={"method": ["gd", "momentum"]},
                                               trials=3), "trials"),
    ("an unknown task", body(task="nope"), "task"),
    ("an unknown key", body(epochs=3), "epochs"),
    ("a seed below 0", body(seed=-1), "seed"),
    ("a name that is no string", body(name=5), "name"),
    ("a body that is a list", [body()], "body"),
    # 10 x 1,001 lists: each list is within bounds, their product (the grid) is not
    ("a grid over 10,000 points", body(sampler="grid", trials=2, space={
        "lr": [round(0.0001 + i * 0.0009, 7) for i in range(1000)],
        "x0": list(range(-5, 6))}), "space"),
    ("a name with a lone surrogate", body(name="a\ud800b"), "name"),
    ("a name with a NUL", body(name="a\u0000b"), "name"),
    ("a name with a newline", body(name="two\nlines"), "name"),
    ("a name with a right-to-left override", body(name="ab\u202ec"), "name"),
    ("a searched param whose condition is never met (method defaults to gd)",
     body(space={"beta": {"low": 0.1, "high": 0.9}}), "space.beta"),
    ("a searched param whose condition the fixed values rule out",
     body(space={"beta": [0.1, 0.9]}, fixed={"method": "gd"}), "space.beta"),
    ("a grid over a param and the one its condition is on",
     body(sampler="grid", space={"method": ["gd", "momentum"], "beta": [0.1, 0.5, 0.9]}),
     "space.beta"),
    ("a goal against the metric's declared goal", body(objective={"metric": "loss", "goal": "max"}),
     "objective.goal"),
    ("a goal against the primary metric's goal", body(objective={"goal": "max"}),
     "objective.goal"),
]


@pytest.mark.parametrize("case, bad, field", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_a_bad_search_body_is_400_naming_the_field(client, quad, case, bad, field):
    answer = client.post("/searches", json=bad)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["field"] == field, answer.get_json()
    assert SearchStore(quad).ids() == [] and quad.counts()["total"] == 0


def test_a_bad_body_is_refused_by_create_search_too(quad):
    from mltrack.search import create_search
    from mltrack.store import InvalidValue

    with pytest.raises(InvalidValue) as caught:
        create_search(quad, None, body(space={"lr": {"low": 0.5, "high": 0.1}}))
    assert caught.value.field == "space.lr"
    assert SearchStore(quad).ids() == []


# -- cancel and retry ----------------------------------------------------------------
def test_cancel_stops_a_search_and_a_retried_trial_is_an_ordinary_job(client, quad, fleet):
    record = client.post("/searches", json=body(trials=5, parallel=2)).get_json()
    driver = SearchDriver(quad, fleet.stop)
    driver.tick()  # two trials queued; no worker takes them
    first = client.get(f"/searches/{record['id']}").get_json()
    assert first["waiting"] == 2 and len(first["iids"]) == 2
    cancelled = client.post(f"/searches/{record['id']}/cancel", json={}).get_json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled"] == 2
    for _ in range(3):
        driver.tick()
    after = client.get(f"/searches/{record['id']}").get_json()
    assert after["iids"] == first["iids"] and after["started"] == 2  # no new trial
    assert [t.state.name for t in study_of(quad, record["id"]).trials] == ["FAIL", "FAIL"]
    assert record["id"] not in SearchStore(quad).active_ids()  # nothing left to drive
    assert client.post(f"/searches/{record['id']}/cancel", json={}).status_code == 200
    # a retried trial: an ordinary new job, not in the search, nothing told again
    retried = client.post(f"/experiments/{first['iids'][0]}/retry", json={}).get_json()
    job = client.get(f"/status/{retried['iid']}").get_json()
    assert job["search"] is None and job["trial"] is None
    assert client.get(f"/experiments?search={record['id']}").get_json()["total"] == 2
    driver.tick()
    assert len(study_of(quad, record["id"]).trials) == 2


def test_a_done_search_cannot_be_cancelled(client, quad, fleet):
    record = client.post("/searches", json=body(trials=2)).get_json()
    fleet.driver()
    fleet.workers(QUAD_TASK)
    until_ended(client, record["id"])
    answer = client.post(f"/searches/{record['id']}/cancel", json={})
    assert answer.status_code == 409 and answer.get_json()["current_status"] == "done"


# -- crashes between the driver's steps ------------------------------------------------
def _asked(store, record, count=1):
    """Trials asked of Optuna as a driver would, before it was killed."""
    study = open_study(store, record["id"], SearchStore(store).get(record["id"])["spec"],
                       create=True)
    return [study.ask(distributions(QUADRATIC, record["space"])) for _ in range(count)]


def test_a_trial_asked_but_never_queued_is_reused(client, quad, fleet):
    record = client.post("/searches", json=body(trials=3, parallel=1)).get_json()
    (trial,) = _asked(quad, record)  # killed between ask and reserve
    SearchDriver(quad, fleet.stop).tick()
    after = search_record(quad, record["id"])
    assert after["iids"] == [trial_iid(record["id"], trial.number)]
    job = quad.get(after["iids"][0])
    assert job.hyper_params["lr"] == trial.params["lr"] and job.trial == trial.number
    assert len(study_of(quad, record["id"]).trials) == 1  # nothing asked beside it


def test_a_reserved_trial_without_its_job_gets_it(client, quad, fleet):
    record = client.post("/searches", json=body(trials=3, parallel=1)).get_json()
    (trial,) = _asked(quad, record)
    searches, driver = SearchStore(quad), SearchDriver(quad, fleet.stop)
    assert searches.lock(record["id"], driver.token, 5)
    assert searches.reserve(record["id"], trial.number, driver.token, 3)[0] == "OK"
    driver.tick()  # killed between reserve and create: the next tick creates it
    job = quad.get(trial_iid(record["id"], trial.number))
    assert job.search == record["id"] and job.hyper_params["method"] == trial.params["method"]
    assert search_record(quad, record["id"])["started"] == 1


def test_a_job_created_but_not_linked_is_linked(client, quad, fleet):
    record = client.post("/searches", json=body(trials=3, parallel=1)).get_json()
    (trial,) = _asked(quad, record)
    searches, driver = SearchStore(quad), SearchDriver(quad, fleet.stop)
    searches.lock(record["id"], driver.token, 5)
    searches.reserve(record["id"], trial.number, driver.token, 3)
    iid = trial_iid(record["id"], trial.number)
    quad.create_many([{**trial.params, "steps": 3}], iids=[iid], schema=QUADRATIC)
    assert quad.get(iid).search is None
    driver.tick()
    assert quad.get(iid).search == record["id"] and quad.get(iid).trial == trial.number
    assert quad.counts()["total"] == 1  # created once


def test_an_asked_trial_beyond_the_last_is_told_failed_and_not_counted(client, quad, fleet):
    record = client.post("/searches", json=body(trials=1)).get_json()
    driver = SearchDriver(quad, fleet.stop)
    driver.tick()  # trial 0 queued: the search is full
    (extra,) = _asked(quad, record)  # a driver that lost its lock asked one more
    driver.tick()
    trials = study_of(quad, record["id"]).trials
    assert trials[extra.number].state.name == "FAIL"
    assert trials[extra.number].user_attrs["mltrack"].startswith("not queued")
    assert search_record(quad, record["id"])["started"] == 1 and quad.counts()["total"] == 1


def test_two_drivers_on_one_redis_never_run_more_than_the_trials(client, quad, fleet):
    record = client.post("/searches", json=body(trials=10, parallel=3)).get_json()
    # short locks, so that the two take the search from each other often
    fleet.driver(tick=0.01, lock_seconds=0.03)
    fleet.driver(tick=0.01, lock_seconds=0.03)
    fleet.workers(QUAD_TASK, count=3)
    done = until_ended(client, record["id"])
    assert done["status"] == "done" and done["started"] == done["finished"] == 10
    assert quad.counts()["total"] == 10
    assert client.get(f"/experiments?search={record['id']}").get_json()["total"] == 10
    states = [t.state.name for t in study_of(quad, record["id"]).trials]
    assert states.count("COMPLETE") == 10 and set(states) <= {"COMPLETE", "FAIL"}


# -- pruning ------------------------------------------------------------------------------
def test_pruned_trials_stop_within_a_batch_keep_their_epochs_and_optuna_sees_it(client, quad,
                                                                                fleet):
    BATCHES.clear()
    answer = client.post("/searches", json={
        "task": "ramp", "space": {"q": {"low": 0.0, "high": 1.0}}, "fixed": {"rounds": 4},
        "trials": 14, "sampler": "random", "parallel": 1, "pruner": "median", "seed": 7})
    record = answer.get_json()
    fleet.driver(tick=0.02)
    fleet.workers(RAMP, count=1)
    done = until_ended(client, record["id"])
    assert done["status"] == "done" and done["started"] == 14
    jobs = sorted(quad.get_many(done["iids"]), key=lambda j: j.trial)
    states = {t.number: t for t in study_of(quad, record["id"]).trials}
    completed: list[float] = []
    pruned = 0
    for job in jobs:
        q, trial = job.hyper_params["q"], states[job.trial]
        # one trial at a time, its score q at every epoch: the median pruner
        # (5 finished trials first) stops exactly those below the median so far
        behind = len(completed) >= 5 and q < statistics.median(completed)
        if job.status is Status.PRUNED:
            pruned += 1
            assert behind, (q, completed)
            assert trial.state.name == "PRUNED" and job.epochs_done == 1 < job.num_epochs
            assert trial.intermediate_values == {1: q}
            assert len(quad.epochs(job.iid)) == 1  # the epoch it reached, kept
            # stopped within one batch: no batch of epoch 2 ran
            assert [e for qq, e, _ in BATCHES if qq == q] == [1] * 4
        else:
            assert job.status is Status.DONE and not behind, (q, completed)
            assert trial.state.name == "COMPLETE" and job.epochs_done == 4
            completed.append(q)
    assert pruned >= 2 and done["pruned"] == pruned


def test_the_driver_costs_one_read_when_nothing_is_active(quad):
    driver = SearchDriver(quad)
    quad.redis.execute_command("CONFIG", "RESETSTAT")
    started = time.perf_counter()
    for _ in range(100):
        driver.tick()
    took = time.perf_counter() - started
    calls = quad.redis.info("commandstats")
    assert {k: v["calls"] for k, v in calls.items()
            if not k.startswith(("cmdstat_config", "cmdstat_info"))} == {"cmdstat_smembers": 100}
    print(f"idle driver tick: {took * 10:.2f} ms")  # shown with -s; not asserted


def test_the_client_starts_reads_lists_and_cancels_searches(live_app, quad):
    from mltrack.client import Client, ClientError

    with Client(live_app) as api:
        search_id = api.search("quadratic", {"lr": {"low": 0.01, "high": 0.5, "log": True}},
                               trials=4, parallel=2, fixed={"steps": 2}, objective="x",
                               pruner="median", seed=1, name="from the client")
        record = api.search_status(search_id)
        assert record["objective"] == {"metric": "x", "goal": "max"}
        assert record["pruner"] == "median" and record["name"] == "from the client"
        assert [s["id"] for s in api.searches()] == [search_id]
        SearchDriver(quad).tick()  # two trials queued
        trials = api.search_trials(search_id)
        assert len(trials) == 2 and all(t["search"] == search_id for t in trials)
        assert api.cancel_search(search_id)["status"] == "cancelled"
        assert {t["status"] for t in api.search_trials(search_id)} == {"cancelled"}
        with pytest.raises(ClientError) as caught:
            api.search("quadratic", {"lr": {"low": 0.5, "high": 0.1}}, trials=2)
        assert caught.value.status == 400 and caught.value.field == "space.lr"


def test_the_command_line_starts_lists_shows_and_cancels_a_search(live_app, quad, capsys):
    from mltrack.cli import main

    assert main(["search", "start", "quadratic", "--url", live_app, "--space",
                 "lr=0.01:0.5:log", "--space", "method=gd,momentum", "--fixed", "steps=2",
                 "--trials", "3", "--parallel", "2", "--pruner", "median",
                 "--objective", "x:max", "--name", "cli"]) == 0
    search_id = capsys.readouterr().out.strip()
    record = search_record(quad, search_id)
    assert record["space"] == {"lr": {"low": 0.01, "high": 0.5, "log": True},
                               "method": ["gd", "momentum"]}
    assert record["fixed"] == {"steps": 2} and record["objective"] == {"metric": "x",
                                                                       "goal": "max"}
    SearchDriver(quad).tick()
    assert main(["search", "ls", "--url", live_app]) == 0
    listed = capsys.readouterr().out
    assert search_id[:8] in listed and "cli" in listed and "0/3" in listed
    assert main(["search", "show", search_id[:6], "--url", live_app]) == 0
    shown = capsys.readouterr().out
    assert "waiting 2" in shown and shown.count("waiting") >= 3  # the line and two trials
    assert main(["search", "cancel", search_id[:6], "--url", live_app]) == 0
    assert search_record(quad, search_id)["status"] == "cancelled"
    capsys.readouterr()
    assert main(["search", "start", "quadratic", "--url", live_app, "--space", "lr=0.5:0.1",
                 "--trials", "2"]) == 1
    assert "space.lr" in capsys.readouterr().err


def test_the_study_is_a_json_journal_in_redis_replayed_without_a_pickle(client, quad):
    record = client.post("/searches", json=body(trials=50)).get_json()
    spec = SearchStore(quad).get(record["id"])["spec"]
    study = open_study(quad, record["id"], spec, create=True)
    for n in range(40):  # past Optuna's snapshot interval (100 journal entries)
        trial = study.ask(distributions(QUADRATIC, record["space"]))
        study.tell(trial, float(n))
    journal = SearchStore(quad).journal_prefix(record["id"])
    assert int(quad.redis.get(f"{journal}:log_number")) > 100
    assert not quad.redis.exists(f"{journal}:snapshot")  # Optuna's is a pickle: never kept
    again = open_study(quad, record["id"], spec)  # another process, or after a restart
    assert [t.value for t in again.trials] == [float(n) for n in range(40)]


def test_a_failed_trial_counts_as_finished_and_is_told_failed(client, quad):
    record = client.post("/searches", json=body(trials=2, parallel=1)).get_json()
    driver = SearchDriver(quad)
    driver.tick()
    claim = quad.claim("w", tasks={"quadratic": QUADRATIC})
    quad.finish(claim.iid, claim.attempt, Status.FAILED, error="boom")
    driver.tick()  # told FAIL; the second (last) trial asked in its place
    after = search_record(quad, record["id"])
    assert after["failed"] == 1 and after["finished"] == 1 and after["started"] == 2
    trials = study_of(quad, record["id"]).trials
    assert trials[0].state.name == "FAIL" and trials[0].user_attrs["mltrack"] == \
        "its job ended failed"
    assert trials[1].state.name == "RUNNING"


# -- the reviewer's findings (review_search.md) -----------------------------------------
def _lrs_run(quad, search_id):
    return sorted(quad.get(trial_iid(search_id, n)).hyper_params["lr"]
                  for n in SearchStore(quad).trials(search_id))


@pytest.mark.parametrize("seed", [0, 7, None])
def test_a_grid_search_visits_each_point_once_across_a_driver_restart(client, quad, fleet, seed):
    grid = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]
    record = client.post("/searches", json=body(
        sampler="grid", trials=6, parallel=2, seed=seed, space={"lr": grid})).get_json()
    first = SearchDriver(quad, fleet.stop)
    first.tick()  # two trials queued, then this driver "dies"
    first.searches.unlock(record["id"], first.token)
    fleet.driver()  # another driver (a fresh grid sampler) takes over
    fleet.workers(QUAD_TASK)
    done = until_ended(client, record["id"])
    assert done["status"] == "done" and done["done"] == 6
    assert _lrs_run(quad, record["id"]) == grid  # every point once
    trials = study_of(quad, record["id"]).trials
    assert sorted(t.params["lr"] for t in trials) == grid


def test_unseeded_grid_searches_each_shuffle_their_own_way(client, quad):
    orders = set()
    for _ in range(4):
        record = client.post("/searches", json=body(
            sampler="grid", trials=3, parallel=3, space={"lr": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]}
        )).get_json()
        SearchDriver(quad).tick()
        orders.add(tuple(quad.get(trial_iid(record["id"], n)).hyper_params["lr"]
                         for n in range(3)))
    assert len(orders) > 1  # seeded by each search's id (4 equal orders: 1 in 60^3)


def test_ids_that_name_other_keys_of_a_search_are_404(client, quad):
    record = client.post("/searches", json=body(trials=2)).get_json()
    SearchDriver(quad).tick()  # its trials, jobs, lock and Optuna journal keys exist now
    sid = record["id"]
    for part in ("jobs", "trials", "told", "lock", "optuna:log:0", "optuna:log_number"):
        for answer in (client.get(f"/searches/{sid}:{part}"),
                       client.post(f"/searches/{sid}:{part}/cancel", json={})):
            assert answer.status_code == 404, (part, answer.get_json())
            assert answer.get_json()["error"].startswith("no search")
    assert client.get(f"/searches/{sid}").get_json()["status"] == "running"  # unchanged


def test_a_conditional_param_is_suggested_only_to_trials_where_it_applies(client, quad, fleet):
    record = client.post("/searches", json=body(
        sampler="random", trials=8, parallel=2, seed=5,
        space={"method": ["gd", "momentum"], "beta": {"low": 0.1, "high": 0.5}})).get_json()
    fleet.driver()
    fleet.workers(QUAD_TASK)
    assert until_ended(client, record["id"])["done"] == 8
    trials = study_of(quad, record["id"]).trials
    assert {t.params["method"] for t in trials} == {"gd", "momentum"}
    for trial in trials:  # Optuna holds exactly what each job ran with
        job = quad.get(trial_iid(record["id"], trial.number))
        assert ("beta" in trial.params) == (job.hyper_params["method"] == "momentum")
        assert all(job.hyper_params[k] == v for k, v in trial.params.items())
        if "beta" not in trial.params:
            assert job.hyper_params["beta"] == 0.9  # its default, not a searched value


def test_a_deleted_trial_counts_as_finished_and_leaves_the_iids(client, quad, fleet):
    record = client.post("/searches", json=body(trials=3, parallel=3)).get_json()
    fleet.driver()
    fleet.workers(QUAD_TASK)
    done = until_ended(client, record["id"])
    best = done["best"]["iid"]
    assert client.delete(f"/experiments/{best}").status_code == 200
    after = client.get(f"/searches/{record['id']}").get_json()
    assert after["finished"] == after["trials"] == 3 and after["deleted"] == 1
    assert after["done"] == 3  # how the trials ended; one job is gone since
    assert best not in after["iids"] and len(after["iids"]) == 2
    assert after["best"]["iid"] in after["iids"]  # the best of those left
    assert after["best"]["value"] >= done["best"]["value"]
    listed = client.get("/searches").get_json()["searches"][0]
    assert listed["finished"] == 3 and best not in listed["iids"]


def test_counts_come_from_the_search_not_from_every_trials_job(client, quad, fleet):
    record = client.post("/searches", json=body(trials=4, parallel=4)).get_json()
    fleet.driver()
    fleet.workers(QUAD_TASK)
    done = until_ended(client, record["id"])
    quad.redis.config_resetstat()
    listed = client.get("/searches").get_json()["searches"][0]
    assert listed == done
    calls = quad.redis.info("commandstats")
    # every trial was told: no trial job is read, only the best one's (one HGETALL)
    hgetalls = calls["cmdstat_hgetall"]["calls"]
    assert hgetalls == 4, calls  # search hash, trials, told, the best trial's job


def test_a_search_of_a_task_no_worker_runs_says_so(live_app, quad, capsys):
    import requests

    from mltrack.cli import main

    record = requests.post(f"{live_app}/searches", json=body(trials=2), timeout=10).json()
    assert record["note"] == "no worker runs task quadratic"  # accepted: its jobs wait
    assert main(["search", "show", record["id"], "--url", live_app]) == 0
    assert "no worker runs task quadratic" in capsys.readouterr().out
    quad.register_worker("w1", {"tasks": ["quadratic"]}, ttl=30)
    assert search_record(quad, record["id"])["note"] is None


def test_trials_are_reachable_from_the_csv_the_client_and_the_command_line(
        live_app, client, quad, fleet, capsys):
    import csv
    import io

    from mltrack.cli import main
    from mltrack.client import Client

    record = client.post("/searches", json=body(trials=3, parallel=3)).get_json()
    sid = record["id"]
    client.post("/train", json={"task": "quadratic", "hyper_params": {}})  # not a trial
    fleet.driver()
    fleet.workers(QUAD_TASK)
    done = until_ended(client, sid)
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/experiments.csv?search={sid}").get_data(as_text=True))))
    assert sorted((r["search"], r["trial"]) for r in rows) == [(sid, str(n)) for n in range(3)]
    with Client(live_app) as api:
        frame = api.experiments(search=sid)
    assert sorted(frame["trial"]) == [0, 1, 2] and set(frame["search"]) == {sid}
    assert set(frame["iid"]) == set(done["iids"])
    capsys.readouterr()
    assert main(["ls", "--search", sid[:6], "--url", live_app]) == 0
    listed = capsys.readouterr().out
    assert "trial" in listed.splitlines()[0] and "3 jobs" in listed
    assert all(i[:8] in listed for i in done["iids"])
    assert main(["show", done["iids"][1], "--url", live_app]) == 0
    assert f"trial 1 of search {sid}" in capsys.readouterr().out
    assert main(["search", "show", sid[:3], "--url", live_app]) == 1  # too short to pick one
    assert "at least 4 characters" in capsys.readouterr().err


def test_search_show_into_a_closed_pipe_exits_quietly(live_app, quad):
    import subprocess
    import sys

    from helpers import child_env

    record = create_search_now(quad)
    SearchDriver(quad).tick()
    child = subprocess.Popen([sys.executable, "-m", "mltrack", "search", "show", record,
                              "--url", live_app], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=child_env())
    child.stdout.close()  # the reader left at once (`| head -0`)
    err = child.stderr.read().decode()
    assert child.wait(30) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def create_search_now(store) -> str:
    from mltrack.search import create_search

    return create_search(store, None, body(trials=3, parallel=3))["id"]
