"""The run view's comparison of runs, as pure functions: what differs, labels,
final/best values and the best epoch, curves grouped by a hyperparameter."""
from __future__ import annotations

import statistics

import pytest

from mltrack import compare
from mltrack.params import MNIST, HyperParams
from mltrack.store import Job, Status
from sample_tasks import QUADRATIC


def mnist(n: int, **hp) -> Job:
    return Job(iid=f"{n:02d}" * 16, status=Status.DONE, hyper_params=HyperParams(**hp).to_dict(),
               created=1_700_000_000.0 + n)


def quad(n: int, **hp) -> Job:
    return Job(iid=f"{n:02d}" * 16, status=Status.DONE, hyper_params=QUADRATIC.parse(hp),
               created=1_700_000_000.0 + n, task="quadratic")


def test_only_the_parameters_that_differ_in_the_tasks_order():
    runs = [mnist(1, learning_rate=0.01, seed=1), mnist(2, learning_rate=0.1, seed=1),
            mnist(3, learning_rate=0.01, seed=2)]
    assert compare.differing_params(runs, MNIST) == ["learning_rate", "seed"]
    assert compare.differing_params(runs[:2], MNIST) == ["learning_rate"]
    assert compare.differing_params(runs[:1], MNIST) == []  # one run: nothing differs


def test_epochs_and_seed_differ_like_any_other_parameter():
    runs = [mnist(1, num_epochs=3, seed=7), mnist(2, num_epochs=5, seed=7)]
    assert compare.differing_params(runs, MNIST) == ["num_epochs"]
    runs = [mnist(1, seed=0), mnist(2, seed=1), mnist(3, seed=2)]
    assert compare.differing_params(runs, MNIST) == ["seed"]
    assert compare.run_names(runs, MNIST) == {runs[0].iid: "seed 0", runs[1].iid: "seed 1",
                                              runs[2].iid: "seed 2"}


def test_a_parameter_that_applies_to_some_runs_only_differs():
    # momentum 0.9 with sgd; with adam it does not apply (stored as its default 0)
    runs = [mnist(1, optimizer="sgd", momentum=0.9), mnist(2, optimizer="adam")]
    assert compare.differing_params(runs, MNIST) == ["optimizer", "momentum"]
    names = compare.run_names(runs, MNIST)
    assert names == {runs[0].iid: "sgd · momentum 0.9", runs[1].iid: "adam · momentum —"}
    same = [mnist(1, optimizer="adam", seed=1), mnist(2, optimizer="adam", seed=2)]
    assert compare.differing_params(same, MNIST) == ["seed"]  # momentum: n/a in both


def test_names_name_choices_by_their_value_and_tell_twins_apart_by_iid():
    runs = [quad(1, lr=0.1, method="momentum"), quad(2, lr=0.2), quad(3, lr=0.2)]
    names = compare.run_names(runs, QUADRATIC)
    assert names[runs[0].iid] == "lr 0.1 · momentum · beta 0.9"
    assert names[runs[1].iid] == "lr 0.2 · gd · beta — (020202)"
    assert names[runs[2].iid] == "lr 0.2 · gd · beta — (030303)"
    twins = [quad(4), quad(5)]
    assert compare.run_names(twins, QUADRATIC) == {twins[0].iid: "run 040404",
                                                   twins[1].iid: "run 050505"}
    alone = compare.run_names([quad(6)], QUADRATIC, full=lambda j: "all of it")
    assert alone == {quad(6).iid: "all of it"}
    assert compare.short("x" * 60) == "x" * (compare.MAX_LABEL - 1) + "…"


EPOCHS = [{"epoch": 1, "loss": 4.0, "acc": 50.0}, {"epoch": 2, "loss": 1.0, "acc": 70.0},
          {"epoch": 3, "loss": 2.0, "acc": 70.0}, {"epoch": 4, "loss": float("nan"), "acc": 60.0}]


def test_best_epoch_follows_the_metrics_goal():
    assert compare.best_epoch(EPOCHS, "loss", "min") == (2, 1.0)
    assert compare.best_epoch(EPOCHS, "loss", "max") == (1, 4.0)
    assert compare.best_epoch(EPOCHS, "acc", "max") == (2, 70.0)  # the first on a tie
    assert compare.best_epoch(EPOCHS, "acc", "min") == (1, 50.0)
    assert compare.best_epoch(EPOCHS, "nope", "min") is None
    assert compare.best_epoch([], "loss", "min") is None


def test_final_is_the_last_finite_value_and_summary_has_all_three():
    from mltrack.task import Metric
    assert compare.final_value(EPOCHS, "loss") == 2.0  # NaN at epoch 4 skipped
    got = compare.summary(EPOCHS, [Metric("loss"), Metric("acc", goal="max")])
    assert got == {"loss": {"final": 2.0, "best": 1.0, "best_epoch": 2},
                   "acc": {"final": 60.0, "best": 70.0, "best_epoch": 2}}
    assert compare.best_of([3.0, None, 1.0], "min") == 1.0
    assert compare.best_of([3.0, None, 1.0], "max") == 3.0
    assert compare.best_of([None], "max") is None


def test_runs_grouped_by_a_parameter_in_value_order():
    runs = [quad(1, lr=0.2, x0=1), quad(2, lr=0.05, x0=2), quad(3, lr=0.2, x0=3),
            quad(4, lr=0.05, x0=4), quad(5, lr=0.1, x0=5)]
    groups = compare.group_runs(runs, "lr", QUADRATIC)
    assert [(v, [j.iid[:2] for j in js]) for v, js in groups] == [
        (0.05, ["02", "04"]), (0.1, ["05"]), (0.2, ["01", "03"])]
    by_beta = compare.group_runs([quad(1, method="momentum", beta=0.5), quad(2)], "beta",
                                 QUADRATIC)
    assert [v for v, _ in by_beta] == [0.5, None]  # does not apply: last


def test_spread_is_the_mean_min_max_and_std_per_epoch_over_runs():
    a = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}, {"epoch": 3, "loss": 0.25}]
    b = [{"epoch": 1, "loss": 3.0}, {"epoch": 2, "loss": 1.5}]
    c = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": float("inf")}]
    s = compare.spread([a, b, c], "loss")
    assert s["epoch"] == [1, 2, 3]
    assert s["mean"] == [2.0, 1.0, 0.25]
    assert s["low"] == [1.0, 0.5, 0.25] and s["high"] == [3.0, 1.5, 0.25]
    assert s["n"] == [3, 2, 1]  # runs of different lengths count where they reach
    assert s["std"] == [pytest.approx(statistics.pstdev([1.0, 3.0, 2.0])), 0.5, 0.0]
    assert compare.mean_std([1.0, None, 3.0]) == (2.0, 1.0, 2)
    assert compare.mean_std([None]) is None


def test_chart_options_from_anything_the_url_may_hold():
    params = ["lr", "seed"]
    assert compare.chart_options(None, params) == compare.DEFAULT_OPTIONS
    assert compare.chart_options({"log": True, "group": "lr", "all_params": True}, params) == {
        "log": True, "group": "lr", "all_params": True}
    for bad in ("x", [1], {"log": "yes", "group": "nope", "all_params": 1},
                {"group": ["lr"]}, {"log": None, "extra": 5}):
        assert compare.chart_options(bad, params) == compare.DEFAULT_OPTIONS, bad


def test_the_note_when_fewer_runs_are_shown_than_ticked():
    assert compare.shown_note(8, 8) == ""
    assert compare.shown_note(25, 20).startswith("Showing 20 of 25 ticked runs")
