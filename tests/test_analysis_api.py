"""GET /analysis (and Client.analysis, `mltrack importance`): which
hyperparameters matter among the runs the listing's filters pick, on real
runs of the quadratic task recorded in the real store."""
from __future__ import annotations

import math
import random

import pytest

from mltrack import cli
from mltrack.client import Client, ClientError
from mltrack.store import Status, annotations
from sample_tasks import QUADRATIC, final_loss, quadratic_run


@pytest.fixture
def runs(store):
    """30 done runs whose loss is driven by lr alone (`noisy` varies, changes
    nothing), 10 of them tagged; one waiting job and one failed run."""
    rnd = random.Random(7)
    params = [{"lr": 10 ** rnd.uniform(-3, -0.5), "noisy": rnd.random() < 0.5, "steps": 3}
              for _ in range(30)]
    iids = [quadratic_run(store, p) for p in params]
    for iid in iids[:10]:
        annotations.set_tags(store, iid, ["first-ten"])
    failed = quadratic_run(store, {"lr": 0.9}, finish=False)
    store.finish(failed, store.get(failed).attempts, Status.FAILED, error="boom")
    store.create({"lr": 0.5}, schema=QUADRATIC)
    return dict(zip(iids, params))


def get(client, **query):
    answer = client.get("/analysis", query_string=query)
    assert answer.is_json
    return answer.status_code, answer.get_json()


def best_of(runs: dict, iids=None) -> str:
    iids = list(iids or runs)
    return min(iids, key=lambda iid: final_loss(runs[iid]))


def test_the_parameter_that_drives_the_loss_ranks_first_and_the_best_run_is_named(
        client, runs):
    status, body = get(client, task="quadratic")
    assert status == 200, body
    assert (body["task"], body["metric"], body["goal"], body["evaluator"]) == (
        "quadratic", "loss", "min", "ped-anova")
    assert (body["runs"], body["matching"], body["left_out"], body["capped"]) == (30, 32, 2,
                                                                               False)
    names = [row["name"] for row in body["importance"]]
    assert names[0] == "lr" and set(names) == {"lr", "noisy"}
    assert math.isclose(sum(row["share"] for row in body["importance"]), 1.0)
    assert body["importance"][0]["share"] > body["importance"][1]["share"]
    best = best_of(runs)
    assert body["best"]["iid"] == best
    assert math.isclose(body["best"]["value"], final_loss(runs[best]))
    assert body["best"]["hyper_params"]["lr"] == runs[best]["lr"]
    assert body["fixed"] == {"x0": 3.0, "steps": 3, "method": "gd"}
    assert body["message"] == "" and body["caution"] == ""


def test_the_listings_filters_pick_the_runs(client, runs):
    tagged = list(runs)[:10]
    status, body = get(client, task="quadratic", tag="first-ten")
    assert status == 200 and body["runs"] == 10 and body["matching"] == 10
    assert body["caution"].startswith("Only 10 runs: below about 20")
    assert body["best"]["iid"] == best_of(runs, tagged)
    low = [iid for iid, p in runs.items() if p["lr"] < 0.05]
    status, body = get(client, task="quadratic", q="lr<0.05")
    assert status == 200 and body["runs"] == len(low)
    assert body["best"]["iid"] == best_of(runs, low)
    # another status than done: nothing to judge, and it says why
    status, body = get(client, task="quadratic", status="failed")
    assert status == 200 and body["runs"] == 0 and body["importance"] == []
    assert body["best"] is None and body["message"].startswith("Too few runs to analyse")


def test_another_metric_is_judged_by_its_own_goal(client, runs):
    status, body = get(client, task="quadratic", metric="x", evaluator="fanova")
    assert status == 200 and (body["metric"], body["goal"]) == ("x", "max")
    assert body["evaluator"] == "fanova"
    xs = {}
    for iid, p in runs.items():  # x after `steps` steps of x -= 2 lr x from x0 = 3
        x = 3.0
        for _ in range(3):
            x -= p["lr"] * 2 * x
        xs[iid] = x
    assert body["best"]["iid"] == max(xs, key=xs.get)


def test_nothing_varies_says_so(client, store):
    for _ in range(3):
        quadratic_run(store, {"lr": 0.2})
    status, body = get(client, task="quadratic")
    assert status == 200 and body["runs"] == 3 and body["importance"] == []
    assert body["message"].startswith("Every one of the 3 runs has the same hyperparameters")
    assert body["best"] is not None


@pytest.mark.parametrize("query, field", [
    ({}, "task"),                                   # one task is compared
    ({"task": "nope"}, "task"),
    ({"task": "quadratic", "metric": "accuracy"}, "metric"),
    ({"task": "quadratic", "metric": "best_loss"}, "metric"),
    ({"task": "quadratic", "evaluator": "shap"}, "evaluator"),
    ({"task": "quadratic", "status": "finished"}, "status"),
    ({"task": "quadratic", "search": "0" * 32}, "search"),
    ({"search": "not-an-id"}, "search"),
    ({"task": "quadratic", "sort": "loss"}, "sort"),  # not a listing: no sort, no page
    ({"task": "quadratic", "q": "loss>>1"}, "q"),
    ({"task": "quadratic", "tag": "two words"}, "tag"),
])
def test_bad_queries_are_400_naming_the_parameter(client, runs, query, field):
    status, body = get(client, **query)
    assert status == 400, body
    assert body["field"] == field and body["error"]


def test_a_tracked_task_without_a_metric_yet_says_so(client, store):
    assert client.post("/runs", json={"task": "no-metric", "hyper_params": {"a": 1}}
                       ).status_code == 201
    status, body = get(client, task="no-metric")
    assert status == 400 and body["field"] == "task"
    assert body["error"] == ("task: task no-metric has no metric recorded yet: nothing to "
                             "analyse until its runs log one")


def test_an_unknown_parameter_is_named_cut_short(client, runs):
    status, body = get(client, **{"x" * 5000: "1", "task": "quadratic"})
    assert status == 400 and body["field"] == "x" * 80 + "…" and len(body["error"]) < 400


def test_the_newest_runs_are_read_up_to_the_cap(client, runs, monkeypatch):
    from mltrack import analysis_api

    monkeypatch.setattr(analysis_api, "MAX_RUNS", 20)
    monkeypatch.setattr(analysis_api, "MAX_PAGE", 7)  # and in several pages
    status, body = get(client, task="quadratic")
    assert status == 200 and body["runs"] == 20 and body["capped"] is True
    newest = list(runs)[-20:]  # created in order
    assert body["best"]["iid"] == best_of(runs, newest)
    status, body = get(client, task="quadratic", tag="first-ten")
    assert body["runs"] == 10 and body["capped"] is False


def test_a_parameter_given_twice_is_refused(client, runs):
    answer = client.get("/analysis?task=quadratic&metric=loss&metric=x")
    assert answer.status_code == 400 and answer.get_json()["field"] == "metric"


def test_a_search_is_judged_by_its_objective(client, store):
    from mltrack.search import create_search

    store.register_task(QUADRATIC)
    record = create_search(store, None, {
        "task": "quadratic", "space": {"lr": {"low": 0.01, "high": 0.5, "log": True}},
        "trials": 4, "objective": {"metric": "x", "goal": "max"}})
    status, body = get(client, search=record["id"])
    assert status == 200, body
    assert (body["task"], body["metric"], body["goal"]) == ("quadratic", "x", "max")
    assert body["runs"] == 0  # no trial has run: none judged, and no other run counts
    quadratic_run(store, {"lr": 0.3})  # not a trial
    assert get(client, search=record["id"])[1]["matching"] == body["matching"]
    # another task than the search's could only pick nothing: said, not answered empty
    status, body = get(client, search=record["id"], task="mnist")
    assert status == 400 and body["field"] == "task"
    assert body["error"] == (f"task: search {record['id']} is a search of task quadratic, not "
                             "mnist: leave task out, or give quadratic")
    assert get(client, search=record["id"], task="quadratic")[0] == 200


def test_the_client_and_the_cli(live_app, store, runs, capsys):
    client = Client(live_app)
    body = client.analysis("quadratic", tag="first-ten")
    assert body["runs"] == 10 and body["importance"][0]["name"] == "lr"
    with pytest.raises(ClientError) as caught:
        client.analysis("quadratic", metric="nope")
    assert caught.value.status == 400 and caught.value.field == "metric"
    assert cli.main(["importance", "--url", live_app, "--task", "quadratic"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("quadratic: 30 done runs judged by loss (minimised)")
    assert lines[1].split()[0] == "lr" and "%" in lines[1]
    best = best_of(runs)
    assert f"best: {best}" in out
    assert cli.main(["importance", "--url", live_app, "--task", "quadratic",
                     "--metric", "nope"]) == 1
    assert "metric" in capsys.readouterr().err
