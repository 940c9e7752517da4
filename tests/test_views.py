"""The dashboard's pure functions: rows, columns, labels, figures, the form from
a task's schema, the header's estimate and notes."""
from __future__ import annotations

import pytest

from mltrack import charts, form, views
from mltrack.params import MNIST, HyperParams
from mltrack.store import Job, Status, sort_keys
from sample_tasks import QUADRATIC

SCHEMAS = {"mnist": MNIST, "quadratic": QUADRATIC}


def job(status=Status.DONE, epochs_done=3, num_epochs=5, progress=None, runtime=42.0, **hp):
    params = HyperParams(num_epochs=num_epochs, **hp).to_dict()
    return Job(iid="ab" * 16, status=status, hyper_params=params, created=1_700_000_000.0,
               epochs_done=epochs_done, num_epochs=num_epochs, progress=progress,
               metrics={"test_accuracy": 97.5} if epochs_done else {},
               best={"test_accuracy": 98.0} if epochs_done else {},
               runtime=runtime if epochs_done else None)


def qjob(iid="cd" * 16, epochs_done=2, **hp):
    params = QUADRATIC.parse(hp)
    return Job(iid=iid, status=Status.DONE, hyper_params=params, created=1_700_000_000.0,
               task="quadratic", epochs_done=epochs_done, num_epochs=params["steps"],
               metrics={"loss": 0.25, "x": 0.5}, best={"loss": 0.25, "x": 1.5}, runtime=1.0)


@pytest.mark.parametrize("seconds, text", [(None, ""), (0, "0.0 s"), (2.44, "2.4 s"),
                                           (12.4, "12 s"), (185, "3m 05s"), (3720, "1h 02m")])
def test_duration(seconds, text):
    assert views.duration(seconds) == text


def test_table_rows_keep_numbers_and_show_progress():
    running = job(Status.RUNNING, epochs_done=2, progress={
        "epoch": 3, "batch": 30, "batches": 60, "eta_seconds": 75})
    row = views.table_rows([running])[0]
    assert row["status"] == "running" and row["epochs"] == "2/5" and row["task"] == "mnist"
    assert row["test_accuracy"] == 97.5 and row["best_test_accuracy"] == 98.0
    assert row["learning_rate"] == 0.001 and row["momentum"] == 0.0
    assert row["progress"] == 50.0  # 2.5 of 5 epochs
    assert row["time_left"] == "1m 15s"
    waiting = views.table_rows([job(Status.WAITING, epochs_done=0)])[0]
    assert waiting["progress"] == 0 and waiting["time_left"] == "" and waiting["runtime"] == ""


def test_a_tasks_row_has_its_own_hyperparameters_and_metrics():
    row = views.table_rows([qjob(lr=0.3, steps=4)])[0]
    assert row["task"] == "quadratic" and row["lr"] == 0.3 and row["steps"] == 4
    assert row["loss"] == 0.25 and row["best_x"] == 1.5 and row["epochs"] == "2/4"
    assert "learning_rate" not in row and "test_accuracy" not in row


def test_one_tasks_columns_are_its_hyperparameters_and_metrics():
    sorts = sort_keys([QUADRATIC])
    cols = views.table_columns(SCHEMAS, "quadratic", sorts)
    ids = [c["field"] for c in cols]
    # what matters most first: its primary metric, last and best, then the rest
    assert ids == ["status", "loss", "best_loss", "epochs", "progress", "x0", "lr", "method",
                   "beta", "noisy", "x", "tags", "runtime", "created", "iid"]
    by_id = {c["field"]: c for c in cols}
    # every sortable column is a sort name of the store, best first on the first click
    assert {c["field"] for c in cols if c["sortable"]} <= set(sorts)
    assert not by_id["progress"]["sortable"] and not by_id["iid"]["sortable"]
    assert by_id["loss"]["sortingOrder"][0] == "asc"  # a loss: lowest first
    assert by_id["x"]["sortingOrder"][0] == "desc"  # x's goal is max
    assert by_id["lr"]["sortingOrder"][0] == "asc" and by_id["lr"]["headerTooltip"] == "step size"
    assert by_id["created"]["initialSort"] == "desc"  # a new task's columns keep the sort
    assert by_id["lr"]["valueFormatter"] and "valueFormatter" not in by_id["method"]


def test_mnist_alone_shows_its_own_columns_without_a_task_column():
    cols = views.table_columns({"mnist": MNIST}, None, sort_keys([MNIST]))
    ids = [c["field"] for c in cols]
    assert "task" not in ids and "num_epochs" not in ids  # the epochs column says it
    assert ids[:3] == ["status", "test_accuracy", "best_test_accuracy"]
    assert ids[ids.index("seed") + 1:ids.index("runtime")] == [
        "train_loss", "train_accuracy", "test_loss", "tags"]
    assert {"optimizer", "learning_rate", "batch_size", "model", "seed"} <= set(ids)


def test_all_tasks_show_the_common_columns_and_each_primary_metric():
    sorts = sort_keys(SCHEMAS.values())
    cols = views.table_columns(SCHEMAS, None, sorts)
    assert [c["field"] for c in cols] == ["status", "task", "test_accuracy", "loss", "epochs",
                                          "progress", "tags", "runtime", "created", "iid"]
    headers = {c["field"]: c["headerName"] for c in cols}
    assert headers["loss"] == "loss (quadratic)" and headers["test_accuracy"] == \
        "test accuracy (mnist)"
    by_id = {c["field"]: c for c in cols}
    assert by_id["loss"]["sortingOrder"][0] == "asc"
    assert by_id["test_accuracy"]["sortingOrder"][0] == "desc"
    other = QUADRATIC.__class__("other", {}, (QUADRATIC.metrics[0],))  # shares "loss"
    cols = views.table_columns({**SCHEMAS, "other": other}, None, sorts)
    assert [c["headerName"] for c in cols if c["field"] == "loss"] == ["loss (other, quadratic)"]


@pytest.mark.parametrize("model, expected", [
    (None, ("created", "desc")),
    ([{"colId": "test_accuracy", "sort": "desc"}], ("test_accuracy", "desc")),
    ([{"colId": "runtime", "sort": "asc"}], ("runtime", "asc")),
    ([{"colId": "status", "sort": "asc"}], ("status", "asc")),
    ([{"colId": "best_loss", "sort": "asc"}], ("best_loss", "asc")),
    ([{"colId": "lr", "sort": "desc"}], ("lr", "desc")),
    ([{"colId": "progress", "sort": "asc"}], ("created", "desc")),  # not sortable in the store
    ([{"colId": "task", "sort": "asc"}], ("created", "desc")),
])
def test_sort_from_the_grid(model, expected):
    assert views.sort_from_model(model, sort_keys(SCHEMAS.values())) == expected


def test_sort_names_follow_the_listing_s_task():
    mnist_only = sort_keys([MNIST])
    assert views.sort_from_model([{"colId": "loss", "sort": "asc"}], mnist_only) == (
        "created", "desc")
    query = views.rows_request({"startRow": 0, "endRow": 50,
                                "sortModel": [{"colId": "x", "sort": "desc"}]},
                               None, "", "quadratic", sort_keys([QUADRATIC]))
    assert query == {"sort": "x", "order": "desc", "status": None, "task": "quadratic",
                     "offset": 0, "limit": 50, "text": ""}


def test_the_task_help_says_what_each_metric_aims_at():
    assert views.task_help(QUADRATIC) == "x² by gradient descent · metrics: loss ↓ (primary), x ↑"
    assert views.task_help(MNIST).endswith(
        "metrics: train_loss ↓, train_accuracy ↑, test_loss ↓, test_accuracy ↑ (primary)")
    assert [o["value"] for o in views.task_options(SCHEMAS)] == ["mnist", "quadratic"]


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("mnist", "mnist"),
                                             ("quadratic", "quadratic")])
def test_task_choice(value, expected):
    assert views.task_choice(value, SCHEMAS) == expected


@pytest.mark.parametrize("value", ["cubic", 5, ["mnist"], {"task": "mnist"}, True])
def test_task_choice_refuses_what_is_no_task(value):
    with pytest.raises(ValueError):
        views.task_choice(value, SCHEMAS)


def test_time_left_says_estimating_until_the_worker_can_tell():
    estimating = job(Status.RUNNING, epochs_done=0, progress={
        "epoch": 1, "batch": 1, "batches": 60, "eta_seconds": None, "at": 1_700_000_000.0})
    just_claimed = job(Status.RUNNING, epochs_done=0, progress=None)
    rows = views.table_rows([estimating, just_claimed])
    assert [r["time_left"] for r in rows] == ["estimating…", "estimating…"]
    done = [job(runtime=60.0)]
    assert views.queue_eta(1, [estimating], done, workers=1) is None  # "estimating…" too


def test_queue_eta():
    running = [job(Status.RUNNING, progress={"epoch": 1, "batch": 1, "batches": 2,
                                             "eta_seconds": 30})]
    done = [job(runtime=60.0), job(runtime=120.0)]
    assert views.queue_eta(4, running, done, workers=2) == (30 + 4 * 90) / 2
    assert views.queue_eta(0, [], [], workers=0) == 0.0
    assert views.queue_eta(3, [], done, workers=0) is None  # nobody to run them
    assert views.queue_eta(3, [], [], workers=1) is None  # nothing to estimate from


def test_the_header_names_each_task_that_waits_for_a_worker():
    workers = [{"id": "a", "tasks": ["mnist"]}, {"id": "old"}]  # old: said nothing, MNIST
    assert views.no_worker_notes({"quadratic": 2, "mnist": 5}, workers) == [
        "no worker runs task quadratic"]
    assert views.no_worker_notes({"quadratic": 2}, workers + [
        {"id": "b", "tasks": ["quadratic"]}]) == []
    assert views.no_worker_notes({"mnist": 1, "quadratic": 1}, []) == [
        "no worker runs task mnist", "no worker runs task quadratic"]
    assert views.no_worker_notes({}, []) == []


# -- labels, details, charts --------------------------------------------------------------
def test_run_labels_name_the_hyperparameters_that_tell_runs_apart():
    # more than four parameters apply: the choices, and what differs from the defaults
    assert views.run_label(qjob(lr=0.3), QUADRATIC) == "lr 0.3 · gd (cdcdcd)"
    assert views.run_label(qjob(method="momentum", beta=0.5, noisy=True), QUADRATIC) == (
        "momentum · beta 0.5 · noisy true (cdcdcd)")
    small = QUADRATIC.__class__("small", {n: QUADRATIC.params[n] for n in ("x0", "lr")},
                                QUADRATIC.metrics)
    assert views.run_label(qjob(lr=0.3), small) == "x0 3 · lr 0.3 (cdcdcd)"  # up to 4: all
    # MNIST has nine: its choices, and what differs from the defaults
    assert views.run_label(job(model="mlp", learning_rate=0.01), MNIST) == (
        "adam · learning_rate 0.01 · mlp · constant (ababab)")
    assert views.run_label(qjob(), None).startswith("x0 3 · lr 0.1")


def test_run_facts_list_the_parameters_from_the_schema():
    facts = {k: (v, h) for k, v, h in views.run_facts(qjob(lr=0.0012345678), QUADRATIC)}
    assert facts["lr"] == ("0.0012345678", "step size")  # full precision
    assert facts["task"][0] == "quadratic" and facts["noisy"][0] == "false"
    assert "beta" not in facts  # does not apply to gd
    assert "beta" in {k for k, _, _ in views.run_facts(qjob(method="momentum"), QUADRATIC)}


def test_the_epoch_table_has_every_metric():
    epochs = [{"epoch": 1, "loss": 2.25, "x": 1.5, "time_training": 0.5},
              {"epoch": 2, "loss": 0.5625, "x": 0.75, "extra": 3.0, "time_training": 1.0}]
    headers, rows = views.epoch_table(epochs, QUADRATIC)
    assert headers == ["epoch", "loss", "x", "extra", "time"]
    assert rows == [["1", "2.25", "1.5", "", "0.5 s"], ["2", "0.5625", "0.75", "3", "1.0 s"]]


def test_chart_groups_follow_the_metrics_charts():
    assert [(c, [m.name for m in ms]) for c, ms in charts.chart_groups(MNIST)] == [
        ("loss", ["train_loss", "test_loss"]), ("accuracy", ["train_accuracy", "test_accuracy"])]
    assert [c for c, _ in charts.chart_groups(QUADRATIC)] == ["loss", "x"]


# The run view's figures (runs overlaid, legends, groups): tests/test_charts.py


# -- the form ------------------------------------------------------------------------------
def test_each_type_gets_its_widget():
    widgets = {n: form.widget(p) for n, p in QUADRATIC.params.items()}
    assert widgets == {"x0": "text", "lr": "log-slider", "steps": "text", "method": "choice",
                       "beta": "text", "noisy": "checklist"}
    assert form.widget(MNIST.params["batch_size"]) == "text"  # a log Int: text only
    assert form.slider_range(QUADRATIC.params["lr"]) == (-4, 0)
    assert form.slider_range(MNIST.params["learning_rate"]) == (-5, 1)  # low=0 open, 1e-3


def test_form_values_of_a_run_and_of_the_defaults():
    assert form.form_values(QUADRATIC) == {"x0": "3", "lr": "0.1", "steps": "5",
                                           "method": ["gd"], "beta": "0.9", "noisy": ["false"]}
    hp = QUADRATIC.parse({"lr": 0.0012345678, "noisy": True, "method": "momentum"})
    values = form.form_values(QUADRATIC, hp)
    assert values["lr"] == "0.0012345678" and values["noisy"] == ["true"]
    jobs, errors = form.parse_form(QUADRATIC, values)
    assert errors == {} and jobs == [hp]


def test_the_form_gives_one_job_or_a_sweep_of_any_task():
    jobs, errors = form.parse_form(QUADRATIC, form.form_values(QUADRATIC))
    assert errors == {} and jobs == [QUADRATIC.defaults()]
    values = {**form.form_values(QUADRATIC), "lr": "0.1, 0.01,0.001", "noisy": ["true", "false"],
              "method": ["gd", "momentum"]}
    jobs, errors = form.parse_form(QUADRATIC, values)
    assert errors == {} and len(jobs) == 12
    assert {(j["lr"], j["noisy"], j["method"]) for j in jobs} == {
        (lr, n, m) for lr in (0.1, 0.01, 0.001) for n in (True, False)
        for m in ("gd", "momentum")}
    assert form.preview(len(jobs)).startswith("This will queue 12 jobs")
    assert form.preview(1) == ""


def test_mnist_through_the_same_form():
    values = form.form_values(MNIST)
    jobs, errors = form.parse_form(MNIST, values)
    assert errors == {} and jobs == [HyperParams().to_dict()]
    jobs, errors = form.parse_form(MNIST, {**values, "learning_rate": "0.1, 0.01",
                                           "optimizer": ["adam", "sgd"]})
    assert errors == {} and len(jobs) == 4


@pytest.mark.parametrize("field, value, message", [
    ("lr", "2", "lr must be at least 0.0001 and at most 1, not 2"),
    ("lr", "fast", "not a number"),
    ("lr", "", "lr needs a value"),
    ("lr", " , ", "needs a value"),
    ("steps", "2.5", "steps must be a whole number, not 2.5"),
    ("steps", "0", "steps must be a whole number from 1 to 100, not 0"),
    ("steps", "9" * 400, "a number of 400 digits"),
    ("x0", "nan", "finite"),
    ("x0", "1e400", "finite"),
    ("method", [], "needs a value"),
    ("method", ["adam"], "one of gd, momentum"),
    ("noisy", ["maybe"], "true or false"),
    ("noisy", [], "needs a value"),
    ("x0", [[1]], "single values"),
    ("x0", "1," * 1001, "at most 1000 values"),
    # an empty item is a value lost to a typo: refused, as the CLI does (review item 4)
    ("lr", "0.1,,0.2", "lr has an empty value in “0.1,,0.2”: give a value between each pair"),
    ("steps", "3,", "steps has an empty value in “3,”"),
    ("x0", "1, ,2", "x0 has an empty value in “1, ,2”"),
    # a decimal comma: how it was read and what to type, not "not 0" (review item 5)
    ("lr", "0,01", "lr: a comma separates values, so “0,01” reads as 0 and 01; for a decimal "
                   "write 0.01"),
    ("steps", "0,5", "steps must be a whole number from 1 to 100, not 0"),  # no decimal meant
])
def test_form_errors_land_on_their_field(field, value, message):
    jobs, errors = form.parse_form(QUADRATIC, {**form.form_values(QUADRATIC), field: value})
    assert jobs == [] and message in errors[field], errors


def test_a_decimal_comma_that_reads_as_two_good_values_is_a_sweep():
    # only a failing item hints at a decimal comma: "0,5" in x0 (any number) is 0 and 5
    jobs, errors = form.parse_form(QUADRATIC, {**form.form_values(QUADRATIC), "x0": "0,5"})
    assert errors == {} and sorted(j["x0"] for j in jobs) == [0.0, 5.0]


def test_a_dropdowns_list_is_no_typed_list():
    # the blank-item refusal is for typed text; a picked list never had commas
    jobs, errors = form.parse_form(QUADRATIC, {**form.form_values(QUADRATIC),
                                               "method": ["gd", ""]})
    assert errors == {} and [j["method"] for j in jobs] == ["gd"]


def test_a_parameter_applies_only_when_its_condition_holds():
    values = form.form_values(QUADRATIC)
    assert form.applies(QUADRATIC, values)["beta"] is False
    # not applying, it is left to its default, whatever it holds
    jobs, errors = form.parse_form(QUADRATIC, {**values, "beta": "nonsense"})
    assert errors == {} and jobs[0]["beta"] == 0.9
    on = {**values, "method": ["momentum"], "beta": "0.5"}
    assert form.applies(QUADRATIC, on)["beta"] is True
    assert form.parse_form(QUADRATIC, on)[0][0]["beta"] == 0.5
    # with both methods it applies to the momentum jobs only (the gd job keeps the default)
    jobs, errors = form.parse_form(QUADRATIC, {**on, "method": ["gd", "momentum"]})
    assert errors == {} and sorted((j["method"], j["beta"]) for j in jobs) == [
        ("gd", 0.9), ("momentum", 0.5)]
    assert form.when_text(QUADRATIC.params["beta"]) == "only when method is momentum"
    # MNIST's momentum likewise, on sgd and rmsprop
    mnist = form.form_values(MNIST)
    assert form.applies(MNIST, mnist)["momentum"] is False
    assert form.applies(MNIST, {**mnist, "optimizer": ["adam", "rmsprop"]})["momentum"] is True


def test_a_sweep_too_large_is_a_form_error():
    values = {**form.form_values(QUADRATIC), "x0": ",".join(str(x) for x in range(-10, 11)),
              "steps": ",".join(str(s) for s in range(1, 100))}
    jobs, errors = form.parse_form(QUADRATIC, values)
    assert jobs == [] and "at most 1000" in errors["form"]


def test_form_inputs_take_only_the_widgets_of_the_task():
    def item(field, value, task="quadratic"):
        return {"id": {"type": "param", "task": task, "field": field, "kind": "text"},
                "property": "value", "value": value}
    assert form.form_inputs([item("x0", "1"), item("lr", "0.1")], "quadratic") == {
        "x0": "1", "lr": "0.1"}
    assert form.form_inputs([item("x0", "1"), item("seed", "1", "mnist")], "quadratic") is None
    for bad in (None, "x", [1], [{"id": "x0"}], [{"id": {"type": "param", "task": "quadratic",
                                                         "field": 5}}]):
        assert form.form_inputs(bad, "quadratic") is None


@pytest.mark.parametrize("text, position", [("0.01", -2.0), ("1e-9", -4.0), ("10", 0.0),
                                            ("0.05", -1.3), ("nan", None), ("-1", None),
                                            ("0.1, 0.01", -2.0), ("0.1, 0.01,", -2.0),
                                            ("0.1, x", None), ([0.1], None), ("1e400", None)])
def test_the_log_slider_follows_the_text_and_the_last_value_of_a_list(text, position):
    assert form.text_to_slider(text, -4, 0) == position


def test_the_slider_moves_the_last_value_of_a_list_only():
    assert form.slider_into_text(-3, "0.1, 0.01") == "0.1, 0.001"
    assert form.slider_into_text(-3, "0.1,0.01, ") == "0.1, 0.001"
    assert form.slider_into_text(-3, "0.01") == "0.001" and form.slider_into_text(-3, None) == "0.001"


def test_the_slider_writes_two_significant_digits():
    assert form.slider_to_text(-2) == "0.01" and form.slider_to_text(-1.3) == "0.05"


def test_every_field_error_is_shown_at_once_in_words():
    values = {**form.form_values(MNIST), "learning_rate": "20", "batch_size": "0",
              "seed": "1.5", "num_epochs": "many"}
    jobs, errors = form.parse_form(MNIST, values)
    assert jobs == [] and errors == {
        "learning_rate": "learning rate must be above 0 and at most 10, not 20",
        "batch_size": "batch size must be a whole number from 1 to 8192, not 0",
        "seed": "seed must be a whole number, not 1.5",
        "num_epochs": "“many” is not a number"}


def test_momentum_in_a_sweep_over_optimizers_applies_to_sgd_only_and_is_counted():
    values = {**form.form_values(MNIST), "optimizer": ["sgd", "adam"], "momentum": "0.5, 0.9"}
    jobs, errors = form.parse_form(MNIST, values)
    assert errors == {}
    assert sorted((j["optimizer"], j["momentum"]) for j in jobs) == [
        ("adam", 0.0), ("sgd", 0.5), ("sgd", 0.9)]
    assert form.preview(len(jobs)) == "This will queue 3 jobs (every combination of the " \
                                      "listed values)."


def test_the_submit_footer_names_the_fields_to_fix():
    assert form.errors_summary({}) == ""
    assert form.errors_summary({"batch_size": "..."}) == (
        "Fix batch size first (see its message above).")
    assert form.errors_summary({"learning_rate": "...", "seed": "..."}) == (
        "Fix 2 fields first: learning rate, seed (see their messages above).")
    assert form.errors_summary({form.FORM_ERROR: "too many jobs", "seed": "..."}) == (
        "too many jobs")


def test_a_done_run_far_behind_the_best_of_its_task_is_flagged():
    never = job(Status.DONE, epochs_done=2)
    never.metrics["test_accuracy"] = never.best["test_accuracy"] = 10.0
    assert views.run_note(never, MNIST) == (False, "")  # alone: nothing to compare with
    flagged, note = views.run_note(never, MNIST, task_best=98.0)
    assert flagged and "far behind the best run of its task (98)" in note
    close = job(Status.DONE, epochs_done=2)
    close.metrics["test_accuracy"] = close.best["test_accuracy"] = 90.0
    assert views.run_note(close, MNIST, task_best=98.0) == (False, "")
    # a metric to minimise: ten times the task's best
    lossy = qjob()
    lossy.metrics["loss"] = lossy.best["loss"] = 5.0
    lossy.status = Status.DONE
    assert views.run_note(lossy, QUADRATIC, task_best=0.4)[0]
    assert not views.run_note(lossy, QUADRATIC, task_best=0.6)[0]


# -- Retry and tracked runs (review item 14) ---------------------------------------------
def tracked_job(status=Status.FAILED, iid="ef" * 16):
    return Job(iid=iid, status=status, hyper_params={"lr": 0.1}, created=1_700_000_000.0,
               task="my-exp", tracked=True)


def test_retry_takes_failed_and_cancelled_queue_jobs_not_script_runs():
    failed, script = job(Status.FAILED), tracked_job()
    assert views.retryable(failed) and views.retryable(job(Status.CANCELLED))
    assert not views.retryable(script) and not views.retryable(job(Status.DONE))
    assert views.acted_on("retry", [failed, script, job(Status.DONE)]) == [failed]
    assert views.left_out("retry", [failed, script, tracked_job(Status.DONE)]) == {
        views.SCRIPT_RUNS: 1}
    assert views.left_out("delete", [script]) == {}
    # a tracked run ticked alone: Retry off, and so is Clone (its task has no form)
    allowed = views.ticked_actions([script], queueable=["mnist"])
    assert allowed["retry"] is False and allowed["clone"] is False and allowed["delete"]
    clone_title, retry_title = views.action_titles([script], allowed)
    assert "tracked from scripts" in clone_title and views.SCRIPT_RUNS in retry_title
    # with a queue job beside it, Retry is on (for that one)
    assert views.ticked_actions([script, failed], queueable=["mnist"])["retry"] is True
    # a tracked run of a task a worker declares can be cloned into that task's form
    mine = Job(iid="12" * 16, status=Status.DONE, hyper_params={}, created=0.0, task="mnist",
               tracked=True)
    allowed = views.ticked_actions([mine], queueable=["mnist"])
    assert allowed["clone"] is True and views.action_titles([mine], allowed) == ("", "")


def test_the_confirmation_and_the_result_say_why_runs_are_left_out():
    text = views.confirm_text("retry", 2, 13, True, {views.SCRIPT_RUNS: 11})
    assert text == ("Queue 2 jobs of the 13 matching again (the failed and cancelled ones) "
                    "(11 left out: script runs are run again by their script)?")
    assert views.action_result("retry", 2, {views.SCRIPT_RUNS: 11}) == (
        "Queued again 2 jobs; 11 skipped: script runs are run again by their script.")
    assert views.action_result("cancel", 1, {}) == "Cancelled 1 job."


def test_a_skip_says_the_stores_reason_or_that_the_job_changed():
    from mltrack.store import IllegalTransition, JobNotFound

    failed = job(Status.FAILED)
    refused = IllegalTransition(failed.iid, "failed", "retried: no worker has registered task x")
    assert views.skip_reason(failed, refused) == "no worker has registered task x"
    assert views.skip_reason(failed, IllegalTransition(failed.iid, "waiting", "retried")) == (
        "their status changed meanwhile")
    assert views.skip_reason(failed, JobNotFound(failed.iid)) == "deleted meanwhile"
