"""The run view's figures (plain plotly.js dicts): one chart per chart group,
one legend entry per run, metrics told apart by line style, the best epoch
marked, log scale for losses, curves grouped by a hyperparameter."""
from __future__ import annotations

from mltrack import charts, compare, views
from mltrack.params import MNIST, HyperParams
from mltrack.store import Job, Status
from sample_tasks import QUADRATIC

SCHEMAS = {"mnist": MNIST, "quadratic": QUADRATIC}


def job(iid="ab" * 16, **hp) -> Job:
    return Job(iid=iid, status=Status.DONE, hyper_params=HyperParams(**hp).to_dict(),
               created=1_700_000_000.0)


def qjob(iid="cd" * 16, **hp) -> Job:
    return Job(iid=iid, status=Status.DONE, hyper_params=QUADRATIC.parse(hp),
               created=1_700_000_000.0, task="quadratic")


def mnist_epochs(n, shift=0.0):
    return [{"epoch": e, "train_loss": 1 / e + shift, "test_loss": 1.1 / e + shift,
             "train_accuracy": 90 + e, "test_accuracy": 89 + e - (e == n and n > 2) * 2,
             "time_training": e} for e in range(1, n + 1)]


def lines(fig):
    """The traces that draw a run (not the line-style key, not the best-epoch stars)."""
    return [t for t in fig["data"] if t.get("legendgroup") != "line-style"
            and t.get("mode") != "markers"]


def test_charts_overlay_runs_of_a_task_one_chart_per_group():
    a, b = job(model="mlp"), job("cd" * 16, model="cnn", optimizer="sgd", learning_rate=0.1)
    runs = [(a, mnist_epochs(3)), (b, mnist_epochs(2))]
    names = compare.run_names([a, b], MNIST)
    drawn = charts.run_charts(runs, SCHEMAS, names)
    assert [key for key, _ in drawn] == ["mnist/loss", "mnist/accuracy"]
    accuracy = drawn[1][1]
    traces = lines(accuracy)
    assert [len(t["x"]) for t in traces] == [3, 3, 2, 2]
    assert traces[1]["y"] == [90, 91, 90]  # test accuracy
    assert traces[0]["line"]["color"] == traces[1]["line"]["color"]  # one colour per run
    assert traces[0]["line"]["color"] != traces[2]["line"]["color"]
    assert traces[0]["line"]["dash"] != traces[1]["line"]["dash"]  # a style per metric
    assert accuracy["layout"]["title"]["text"] == "Accuracy"
    loss = lines(drawn[0][1])
    assert loss[1]["y"] == [1.1, 0.55, 1.1 / 3]


def test_one_legend_entry_per_run_naming_only_what_differs():
    a = job(learning_rate=0.01, seed=1)
    b = job("cd" * 16, learning_rate=0.1, seed=1)
    c = job("ef" * 16, learning_rate=0.01, seed=2)
    names = compare.run_names([a, b, c], MNIST)
    drawn = dict(charts.run_charts([(a, mnist_epochs(3)), (b, mnist_epochs(3)),
                                    (c, mnist_epochs(3))], SCHEMAS, names))
    loss = drawn["mnist/loss"]
    legend = [t["name"] for t in loss["data"] if t.get("showlegend", True)]
    # the line-style key first (grey), then one entry per run
    assert legend == ["train loss", "test loss", "learning_rate 0.01 · seed 1",
                      "learning_rate 0.1 · seed 1", "learning_rate 0.01 · seed 2"]
    key = [t for t in loss["data"] if t.get("legendgroup") == "line-style"]
    assert [t["line"]["dash"] for t in key] == ["solid", "dot"]
    assert {t["line"]["color"] for t in key} == {charts.KEY_COLOUR}
    # every trace of a run in its legend group: one click hides the run
    for run in (a, b, c):
        group = [t for t in loss["data"] if t.get("legendgroup") == run.iid]
        assert len(group) == 3  # train, test, best-epoch star
        assert sum(t.get("showlegend", True) for t in group) == 1
    assert loss["layout"]["legend"]["x"] > 1  # at the right: it scrolls, never taller


def test_a_star_at_each_runs_best_epoch_by_the_primary_metric():
    a = job()
    epochs = mnist_epochs(4)  # test accuracy 90, 91, 92, then 91: best at epoch 3
    drawn = dict(charts.run_charts([(a, epochs)], SCHEMAS, {a.iid: "a"}))
    for key in ("mnist/loss", "mnist/accuracy"):
        stars = [t for t in drawn[key]["data"] if t.get("mode") == "markers"]
        assert len(stars) == 1 and stars[0]["x"] == [3, 3]
        assert stars[0]["marker"]["symbol"] == "star"
    stars = [t for t in drawn["mnist/accuracy"]["data"] if t.get("mode") == "markers"]
    assert stars[0]["y"] == [93, 92]  # train and test accuracy at that epoch


def test_the_log_toggle_sets_loss_charts_only_and_names_the_chart_state():
    a = job()
    off = dict(charts.run_charts([(a, mnist_epochs(2))], SCHEMAS, {a.iid: "a"}))
    on = dict(charts.run_charts([(a, mnist_epochs(2))], SCHEMAS, {a.iid: "a"}, {"log": True}))
    assert off["mnist/loss"]["layout"]["yaxis"]["type"] == "linear"
    assert on["mnist/loss"]["layout"]["yaxis"]["type"] == "log"
    assert on["mnist/accuracy"]["layout"]["yaxis"]["type"] == "linear"  # a goal of max
    # zoom is kept while the runs and the options stay; a change starts afresh
    assert off["mnist/loss"]["layout"]["uirevision"] != on["mnist/loss"]["layout"]["uirevision"]
    assert off["mnist/accuracy"]["layout"]["uirevision"] == dict(charts.run_charts(
        [(a, mnist_epochs(3))], SCHEMAS, {a.iid: "a"}))["mnist/accuracy"]["layout"]["uirevision"]
    b = job("cd" * 16)
    two = dict(charts.run_charts([(a, mnist_epochs(2)), (b, mnist_epochs(2))], SCHEMAS,
                                 {a.iid: "a", b.iid: "b"}))
    assert two["mnist/loss"]["layout"]["uirevision"] != off["mnist/loss"]["layout"]["uirevision"]


def test_grouped_by_a_parameter_mean_line_and_min_max_band():
    runs = [(qjob(f"{n:02d}" * 16, lr=lr, x0=x0), [{"epoch": e, "loss": loss * e, "x": x0}
                                                    for e in (1, 2)])
            for n, (lr, x0, loss) in enumerate([(0.1, 1, 1.0), (0.1, 2, 3.0), (0.2, 1, 5.0)])]
    drawn = dict(charts.run_charts(runs, SCHEMAS, {}, {"group": "lr"}))
    loss = drawn["quadratic/loss"]
    bands = [t for t in loss["data"] if t.get("fill") == "toself"]
    means = [t for t in loss["data"] if t.get("fill") != "toself"]
    assert [t["name"] for t in means] == ["lr 0.1 (2 runs)", "lr 0.2 (1 run)"]
    assert means[0]["x"] == [1, 2] and means[0]["y"] == [2.0, 4.0]
    assert bands[0]["x"] == [1, 2, 2, 1] and bands[0]["y"] == [3.0, 6.0, 2.0, 1.0]
    assert means[1]["y"] == [5.0, 10.0]
    assert "group=lr" in loss["layout"]["uirevision"]
    # a task without that parameter: its runs one by one
    m = job()
    drawn = dict(charts.run_charts([(m, mnist_epochs(2))], SCHEMAS, {m.iid: "m"},
                                   {"group": "lr"}))
    assert [t["name"] for t in lines(drawn["mnist/loss"])] == ["m", "m"]


def test_a_chart_with_nothing_to_draw_has_no_axes():
    a = qjob()
    drawn = dict(charts.run_charts([(a, [])], SCHEMAS, {a.iid: "a"}))
    fig = drawn["quadratic/loss"]
    assert fig["data"] == []
    assert fig["layout"]["xaxis"] == {"visible": False}
    assert fig["layout"]["yaxis"] == {"visible": False}
    assert fig["layout"]["annotations"][0]["text"] == charts.EMPTY_TEXT
    assert fig["layout"]["title"]["text"] == "Loss"


def test_runs_of_two_tasks_get_each_their_own_charts():
    epochs = [{"epoch": 1, "loss": 2.25, "x": 1.5, "time_training": 0.5}]
    drawn = charts.run_charts([(qjob(), epochs), (job(), mnist_epochs(1)),
                               (qjob("ef" * 16, lr=0.2), epochs)], SCHEMAS,
                              lambda j: views.run_label(j, SCHEMAS[j.task]))
    assert [key for key, _ in drawn] == ["quadratic/loss", "quadratic/x", "mnist/loss",
                                         "mnist/accuracy"]
    loss = drawn[0][1]
    assert len(lines(loss)) == 2 and loss["layout"]["title"]["text"] == "quadratic · Loss"
    assert lines(loss)[0]["line"]["color"] != lines(loss)[1]["line"]["color"]
    assert len(lines(drawn[2][1])) == 2  # mnist's one run: train and test loss
