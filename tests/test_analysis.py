"""mltrack.analysis on synthetic runs: importance ranks the hyperparameter that
drives the objective first, the figures have the traces and axes they should,
and the edge cases (too few runs, nothing varies, runs without the metric,
conditional, categorical and log parameters) come out as said."""
from __future__ import annotations

import math
import random

import pytest

from mltrack import analysis
from mltrack.store import Job, Status
from sample_tasks import QUADRATIC


def job(n: int, params: dict, loss: float | None, status: Status = Status.DONE,
        trial: int | None = None, task: str = "quadratic") -> Job:
    out = Job(iid=f"{n:032x}", status=status, hyper_params=QUADRATIC.parse(params),
              created=1000.0 + n, task=task,
              metrics={} if loss is None else {"loss": loss, "x": 0.5})
    if trial is not None:
        out.trial = trial  # a search's trial number (the job record's `trial`)
    return out


def driven_by_lr(n: int, seed: int = 0) -> list[Job]:
    """Runs where the loss depends on lr almost alone (x0 and method add noise)."""
    rnd = random.Random(seed)
    jobs = []
    for i in range(n):
        lr = 10 ** rnd.uniform(-4, 0)
        params = {"lr": lr, "x0": rnd.uniform(-10, 10), "method": rnd.choice(["gd", "momentum"]),
                  "steps": rnd.randint(1, 100)}
        loss = (math.log10(lr) + 2) ** 2 + 0.05 * rnd.random()
        jobs.append(job(i, params, loss))
    return jobs


OBJECTIVE = analysis.objective_of(QUADRATIC)


def test_the_objective_is_the_primary_metric_unless_another_is_named():
    assert OBJECTIVE == analysis.Objective("loss", "min")
    assert analysis.objective_of(QUADRATIC, "x") == analysis.Objective("x", "max")
    assert analysis.objective_of(QUADRATIC, "nope") == OBJECTIVE


@pytest.mark.parametrize("evaluator", [analysis.PED_ANOVA, analysis.FANOVA])
def test_the_parameter_that_drives_the_objective_ranks_first(evaluator):
    runs = analysis.run_set(driven_by_lr(200), QUADRATIC, OBJECTIVE)
    shares = analysis.importances(runs, evaluator)
    assert list(shares)[0] == "lr"
    assert shares["lr"] > 0.5
    assert set(shares) == {"lr", "x0", "method", "steps"}
    assert math.isclose(sum(shares.values()), 1.0)


def test_a_metric_to_maximise_is_judged_that_way():
    # x is highest where lr is near 1e-2: maximising x makes lr matter too
    rnd = random.Random(1)
    jobs = []
    for i in range(150):
        lr, x0 = 10 ** rnd.uniform(-4, 0), rnd.uniform(-10, 10)
        j = job(i, {"lr": lr, "x0": x0}, 1.0)
        j.metrics["x"] = -abs(math.log10(lr) + 2) + 0.01 * rnd.random()
        jobs.append(j)
    runs = analysis.run_set(jobs, QUADRATIC, analysis.objective_of(QUADRATIC, "x"))
    assert list(analysis.importances(runs))[0] == "lr"
    best = analysis.best_so_far([p.value for p in runs.points], "max")
    assert best == sorted(best)  # never goes down


def test_runs_without_the_metric_or_not_done_are_left_out_and_counted():
    jobs = driven_by_lr(10)
    jobs.append(job(50, {"lr": 0.5}, None))  # done, but no loss recorded
    jobs.append(job(51, {"lr": 0.5}, 0.1, status=Status.RUNNING))
    jobs.append(job(52, {"lr": 0.5}, math.nan))
    jobs.append(job(53, {"lr": 0.5}, 0.1, task="mnist"))
    runs = analysis.run_set(jobs, QUADRATIC, OBJECTIVE)
    assert len(runs.points) == 10 and runs.left_out == 4
    assert all(math.isfinite(p.value) for p in runs.points)


def test_too_few_runs_say_so_and_have_no_importance():
    runs = analysis.run_set(driven_by_lr(1), QUADRATIC, OBJECTIVE)
    assert not runs.enough
    assert analysis.importances(runs) == {}
    assert "Too few runs" in analysis.too_few_text(runs)
    runs = analysis.run_set([], QUADRATIC, OBJECTIVE)
    assert "0 done runs" in analysis.too_few_text(runs)


def test_parameters_that_never_vary_are_fixed_not_ranked():
    jobs = [job(i, {"lr": 0.01 * (i + 1), "x0": 2.0}, float(i)) for i in range(6)]
    runs = analysis.run_set(jobs, QUADRATIC, OBJECTIVE)
    assert list(runs.varying) == ["lr"]
    assert runs.fixed["x0"] == 2.0 and runs.fixed["method"] == "gd"
    assert set(analysis.importances(runs)) == {"lr"}
    same = analysis.run_set([job(i, {"lr": 0.1}, float(i)) for i in range(5)], QUADRATIC,
                            OBJECTIVE)
    assert not same.enough and "same hyperparameters" in analysis.too_few_text(same)
    assert analysis.importances(same) == {}


def test_a_conditional_parameter_counts_only_where_it_applies():
    rnd = random.Random(3)
    jobs = []
    for i in range(60):
        method = "momentum" if i % 2 else "gd"
        params = {"method": method, "lr": 10 ** rnd.uniform(-3, -1)}
        if method == "momentum":
            params["beta"] = rnd.uniform(0, 1)
        jobs.append(job(i, params, (params.get("beta", 0.5) - 0.5) ** 2))
    runs = analysis.run_set(jobs, QUADRATIC, OBJECTIVE)
    assert sum("beta" in p.params for p in runs.points) == 30
    assert "beta" in analysis.importances(runs)
    slices = dict(analysis.slice_figures(runs))
    assert len(slices["beta"]["data"][0]["x"]) == 30  # only the momentum runs


def test_the_parallel_coordinates_have_the_objective_then_each_varying_parameter():
    runs = analysis.run_set(driven_by_lr(40), QUADRATIC, OBJECTIVE)
    fig = analysis.parallel_figure(runs, order=["method", "lr"])
    (trace,) = fig["data"]
    assert trace["type"] == "parcoords"
    labels = [d["label"] for d in trace["dimensions"]]
    assert labels == ["loss", "method", "lr (log)", "x0", "steps"]
    lr = trace["dimensions"][2]
    # log: powers of ten, ticks labelled with values
    assert all(-4 <= v <= 0 for v in lr["values"]) and "0.01" in lr["ticktext"]
    # every tick on the axis (one outside its range is drawn above it, over the labels)
    low, high = lr["range"]
    assert all(low <= t <= high for t in lr["tickvals"])
    assert min(lr["values"]) >= low and max(lr["values"]) <= high
    method = trace["dimensions"][1]
    assert method["ticktext"] == ["gd", "momentum"] and set(method["values"]) == {0, 1}
    assert trace["line"]["color"] == [p.value for p in runs.points]
    assert trace["line"]["reversescale"] is True  # loss: the lowest is the brightest


def test_slice_charts_one_per_parameter_with_its_axis_type():
    runs = analysis.run_set(driven_by_lr(40), QUADRATIC, OBJECTIVE)
    slices = dict(analysis.slice_figures(runs))
    assert set(slices) == {"lr", "x0", "method", "steps"}
    assert slices["lr"]["layout"]["xaxis"]["type"] == "log"
    assert slices["method"]["layout"]["xaxis"]["type"] == "category"
    assert slices["x0"]["layout"]["xaxis"].get("type") is None
    for fig in slices.values():
        assert len(fig["data"][0]["y"]) == 40
        assert fig["layout"]["yaxis"]["title"]["text"] == "loss"


def test_best_so_far_follows_trial_numbers_of_a_search():
    values = [5.0, 3.0, 4.0, 1.0, 2.0]
    jobs = [job(i, {"lr": 0.01 * (i + 1)}, v, trial=4 - i) for i, v in enumerate(values)]
    runs = analysis.run_set(jobs, QUADRATIC, OBJECTIVE)
    assert runs.by_trial
    fig = analysis.best_so_far_figure(runs)
    points, best = fig["data"]
    assert points["x"] == [0, 1, 2, 3, 4] and points["y"] == values[::-1]
    assert best["y"] == [2.0, 1.0, 1.0, 1.0, 1.0]
    assert fig["layout"]["xaxis"]["title"]["text"] == "trial"


def test_best_so_far_without_trials_goes_by_creation():
    jobs = [job(i, {"lr": 0.01 * (i + 1)}, v) for i, v in enumerate([3.0, 1.0, 2.0])]
    fig = analysis.best_so_far_figure(analysis.run_set(jobs, QUADRATIC, OBJECTIVE))
    assert fig["data"][1]["y"] == [3.0, 1.0, 1.0]
    assert fig["data"][0]["x"] == [1, 2, 3]
    # counted runs: whole-number ticks, one per run while there are few
    assert fig["layout"]["xaxis"]["tickformat"] == "d" and fig["layout"]["xaxis"]["dtick"] == 1


def test_importance_bars_put_the_most_important_on_top():
    fig = analysis.importance_figure({"lr": 0.7, "x0": 0.2, "steps": 0.1})
    bar = fig["data"][0]
    assert bar["y"][-1] == "lr" and bar["x"][-1] == 70.0
    assert "PED-ANOVA" in fig["layout"]["title"]["text"]


def test_many_runs_draw_with_webgl():
    runs = analysis.run_set(driven_by_lr(analysis.GL_POINTS + 1), QUADRATIC, OBJECTIVE)
    assert analysis.best_so_far_figure(runs)["data"][0]["type"] == "scattergl"
    assert analysis.slice_figures(runs)[0][1]["data"][0]["type"] == "scattergl"


def test_an_unknown_evaluator_is_refused():
    runs = analysis.run_set(driven_by_lr(10), QUADRATIC, OBJECTIVE)
    with pytest.raises(ValueError):
        analysis.importances(runs, "shap")


def test_the_panel_says_why_it_has_no_charts_or_shows_them_all():
    from mltrack import analysis_view

    few = analysis.run_set(driven_by_lr(1), QUADRATIC, OBJECTIVE)
    (message,) = analysis_view.body(few)
    assert message.id == "analysis-empty" and "Too few runs" in message.children
    runs = analysis.run_set(driven_by_lr(30), QUADRATIC, OBJECTIVE)
    keys = [c.id["key"] for c in graphs(analysis_view.body(runs))]
    assert keys[:3] == ["importance", "best", "parallel"]
    assert sorted(keys[3:]) == ["slice-lr", "slice-method", "slice-steps", "slice-x0"]
    assert keys[3] == "slice-lr"  # the slices in order of importance


def test_the_panels_note_says_what_was_left_out_and_the_cap():
    from mltrack import analysis_view

    runs = analysis.run_set(driven_by_lr(10), QUADRATIC, OBJECTIVE)
    text = analysis_view.note(runs, "task quadratic", matching=14, capped=True)
    assert text.startswith("10 done runs of task quadratic")
    assert "4 other matching runs" in text and "10,000 most recent" in text
    assert "PED-ANOVA" in text


def test_a_parameter_only_some_runs_have_is_not_fixed():
    # beta applies only with momentum: one value among the runs that have it
    jobs = [job(n, {"lr": 0.01 * (n + 1), "method": "momentum" if n % 2 else "gd",
                    "beta": 0.9}, loss=float(n)) for n in range(6)]
    runs = analysis.run_set(jobs, QUADRATIC, OBJECTIVE)
    assert "beta" not in runs.fixed and "beta" not in runs.varying
    assert runs.fixed["x0"] == 3.0 and "method" in runs.varying


def test_few_runs_come_with_a_word_of_caution():
    from mltrack import analysis_view

    few = analysis.run_set(driven_by_lr(9), QUADRATIC, OBJECTIVE)
    assert analysis.caution(few) == ("Only 9 runs: below about 20 the importance is mostly "
                                     "noise, a hint at best.")
    assert analysis_view.note(few, "task quadratic", 9, False).endswith("a hint at best.")
    assert analysis.caution(analysis.run_set(driven_by_lr(20), QUADRATIC, OBJECTIVE)) == ""
    # nothing shown, nothing to caution about: the message says why instead
    assert analysis.caution(analysis.run_set(driven_by_lr(1), QUADRATIC, OBJECTIVE)) == ""


def graphs(children) -> list:
    """The dcc.Graph components among `children` (nested), in page order."""
    from dash import dcc

    if isinstance(children, dcc.Graph):
        return [children]
    if isinstance(children, (list, tuple)):
        return [g for c in children for g in graphs(c)]
    inner = getattr(children, "children", None)
    return graphs(inner) if inner is not None else []


def test_the_panel_redoes_a_slow_analysis_on_its_timer_only_now_and_then():
    from mltrack.analysis_view import SLOW_FACTOR, keep

    before = {"sig": "a", "at": 1000.0, "took": 2.0}
    assert keep(before, "a", background=True, now=1001)  # nothing changed
    assert keep(before, "b", background=True, now=1000 + SLOW_FACTOR * 2 - 1)  # slow, recent
    assert not keep(before, "b", background=True, now=1000 + SLOW_FACTOR * 2 + 1)
    assert not keep(before, "a", background=False, now=1001)  # the user's change: at once
    assert not keep(None, "a", background=True) and not keep({"sig": "x", "at": "?"}, "a", True)
