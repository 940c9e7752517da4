"""The dashboard's pure functions: rows, figures, the form, the header's estimate."""
from __future__ import annotations

import pytest

from mltrack import views
from mltrack.params import HyperParams
from mltrack.store import Job, Status


def job(status=Status.DONE, epochs_done=3, num_epochs=5, progress=None, runtime=42.0, **hp):
    params = HyperParams(num_epochs=num_epochs, **hp).to_dict()
    return Job(iid="ab" * 16, status=status, hyper_params=params, created=1_700_000_000.0,
               epochs_done=epochs_done, num_epochs=num_epochs, progress=progress,
               metrics={"test_accuracy": 97.5} if epochs_done else {},
               runtime=runtime if epochs_done else None)


@pytest.mark.parametrize("seconds, text", [(None, ""), (0, "0.0 s"), (2.44, "2.4 s"),
                                           (12.4, "12 s"), (185, "3m 05s"), (3720, "1h 02m")])
def test_duration(seconds, text):
    assert views.duration(seconds) == text


def test_table_rows_keep_numbers_and_show_progress():
    running = job(Status.RUNNING, epochs_done=2, progress={
        "epoch": 3, "batch": 30, "batches": 60, "eta_seconds": 75})
    row = views.table_rows([running])[0]
    assert row["status"] == "running" and row["epochs"] == "2/5"
    assert row["test_accuracy"] == 97.5 and row["learning_rate"] == 0.001
    assert row["progress"] == 50.0  # 2.5 of 5 epochs
    assert row["time_left"] == "1m 15s"
    waiting = views.table_rows([job(Status.WAITING, epochs_done=0)])[0]
    assert waiting["progress"] == 0 and waiting["time_left"] == "" and waiting["runtime"] == ""


@pytest.mark.parametrize("model, expected", [
    (None, ("created", "desc")),
    ([{"colId": "test_accuracy", "sort": "desc"}], ("test_accuracy", "desc")),
    ([{"colId": "runtime", "sort": "asc"}], ("runtime", "asc")),
    ([{"colId": "status", "sort": "asc"}], ("status", "asc")),
    ([{"colId": "progress", "sort": "asc"}], ("created", "desc")),  # not sortable in the store
])
def test_sort_from_the_grid(model, expected):
    assert views.sort_from_model(model) == expected


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


def test_curves_overlay_runs_with_labels_naming_hyperparameters():
    epochs = [{"epoch": n, "train_loss": 1 / n, "test_loss": 1.1 / n, "train_accuracy": 90 + n,
               "test_accuracy": 89 + n, "time_training": n} for n in (1, 2, 3)]
    a, b = job(model="mlp"), job(model="cnn", optimizer="sgd", learning_rate=0.1)
    b.iid = "cd" * 16
    fig = views.curves_figure([(a, epochs), (b, epochs[:2])], "accuracy")
    assert [len(t.x) for t in fig.data] == [3, 3, 2, 2]
    assert fig.data[0].name.startswith("test · mlp · adam · lr 0.001")
    assert "cnn · sgd · lr 0.1" in fig.data[2].name
    assert list(fig.data[1].y) == [91, 92, 93]  # train accuracy
    assert fig.layout.uirevision == "keep"
    loss = views.curves_figure([(a, epochs)], "loss")
    assert list(loss.data[0].y) == [1.1, 0.55, 1.1 / 3]


def form(**over):
    values = {"model": ["cnn"], "optimizer": ["adam"], "learning_rate": "0.001",
              "num_epochs": "5", "batch_size": "128", "momentum": "0", "weight_decay": "0",
              "seed": "0"}
    values.update(over)
    return values


def test_the_form_gives_one_job_or_a_sweep():
    jobs, errors = views.parse_form(form())
    assert errors == {} and jobs == [HyperParams()]
    jobs, errors = views.parse_form(form(learning_rate="0.1, 0.01,0.001",
                                         optimizer=["adam", "sgd"]))
    assert errors == {} and len(jobs) == 6
    assert {(j.optimizer, j.learning_rate) for j in jobs} == {
        (o, lr) for o in ("adam", "sgd") for lr in (0.1, 0.01, 0.001)}


@pytest.mark.parametrize("field, value, message", [
    ("learning_rate", "20", "0 < learning_rate <= 10"),
    ("learning_rate", "fast", "not a number"),
    ("learning_rate", "", "needs a value"),
    ("num_epochs", "2.5", "whole number"),
    ("batch_size", "0", "between 1 and 8192"),
    ("model", [], "needs a value"),
    ("seed", "-1", "between 0 and"),
])
def test_form_errors_land_on_their_field(field, value, message):
    jobs, errors = views.parse_form(form(**{field: value}))
    assert jobs == [] and message in errors[field]


def test_momentum_with_adam_is_explained():
    jobs, errors = views.parse_form(form(momentum="0.9"))
    assert jobs == [] and "sgd" in errors["momentum"]


def test_clone_fills_the_form_with_a_runs_values():
    hp = HyperParams(model="mlp", optimizer="sgd", learning_rate=0.05, momentum=0.9).to_dict()
    values = views.form_values(hp)
    jobs, errors = views.parse_form(values)
    assert errors == {} and jobs == [HyperParams.parse(hp)]
