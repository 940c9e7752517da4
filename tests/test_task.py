"""The task interface: a user's task file, its schema, and the rules it checks."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import mltrack
from sample_tasks import train
from mltrack.task import RESERVED, Schema, TaskError, goal_from_name


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quadratic.py"


def quadratic():
    """The issue's task file, word for word (examples/quadratic.py), loaded afresh."""
    return runpy.run_path(str(EXAMPLE))["task"]


def test_import_mltrack_is_light():
    code = "import sys, mltrack; print(sorted(m for m in ('torch', 'dash', 'redis', 'flask') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_issue_s_task_file_works_as_written():
    task = quadratic()
    schema = task.schema
    assert schema.primary.name == "loss" and schema.goals == {"loss": "min", "x": "max"}
    assert [m["primary"] for m in schema.to_dict()["metrics"]] == [True, False]
    assert schema.parse({}) == {"x0": 3.0, "lr": 0.1, "steps": 5, "method": "gd"}
    assert schema.parse({"lr": 1, "method": " Momentum ", "steps": 7.0}) == {
        "x0": 3.0, "lr": 1.0, "steps": 7, "method": "momentum"}


class FakeRun:
    def __init__(self, checkpoint=None, epochs_done=0):
        self.checkpoint, self.epochs_done, self.logged = checkpoint, epochs_done, []

    def should_stop(self):
        return False

    def log(self, epoch, metrics, checkpoint=None):
        self.logged.append((epoch, metrics, checkpoint))


def test_train_resumes_from_its_checkpoint():
    task, params = quadratic(), {"x0": 3.0, "lr": 0.1, "steps": 4, "method": "gd"}
    whole = FakeRun()
    task.train(params, whole)
    resumed = FakeRun(checkpoint=whole.logged[1][2], epochs_done=2)
    task.train(params, resumed)
    assert [e for e, _, _ in resumed.logged] == [3, 4]
    assert resumed.logged == whole.logged[2:]


@pytest.mark.parametrize("raw, field, words", [
    ({"lr": 0}, "lr", "0.0001 <= lr <= 1"),
    ({"lr": 2}, "lr", "got 2"),
    ({"lr": "0.1"}, "lr", "must be a number"),
    ({"lr": float("nan")}, "lr", "finite"),
    ({"lr": 10**400}, "lr", "finite"),
    ({"steps": 1.5}, "steps", "whole number"),
    ({"steps": True}, "steps", "whole number"),
    ({"steps": 0}, "steps", "between 1 and 100"),
    ({"steps": 10**400}, "steps", "digits"),
    ({"method": "adam"}, "method", "one of gd, momentum"),
    ({"method": 1}, "method", "one of gd, momentum"),
    ({"nope": 1}, "nope", "unknown hyperparameter of task quadratic"),
    ([], "hyper_params", "JSON object"),
])
def test_every_rule_names_its_field(raw, field, words):
    with pytest.raises(mltrack.InvalidParams) as err:
        quadratic().schema.parse(raw)
    assert err.value.field == field and words in str(err.value)


def test_a_parameter_can_apply_only_with_some_value_of_another():
    schema = Schema("opt", {"optimizer": mltrack.Choice(["adam", "sgd"]),
                            "momentum": mltrack.Float(0.0, low=0, high=0.99,
                                                      when={"optimizer": ["sgd"]})},
                    (mltrack.Metric("loss"),))
    assert schema.parse({"optimizer": "sgd", "momentum": 0.9})["momentum"] == 0.9
    assert schema.parse({"momentum": 0.0})["momentum"] == 0.0  # its default never hurts
    with pytest.raises(mltrack.InvalidParams) as err:
        schema.parse({"momentum": 0.9})
    assert err.value.field == "momentum" and "only when optimizer is sgd" in str(err.value)
    assert schema.applies("momentum", {"optimizer": "sgd"})
    assert not schema.applies("momentum", {"optimizer": "adam"})


def test_a_sweep_is_every_combination_checked_before_any():
    schema = quadratic().schema
    jobs = schema.expand_sweep({"steps": 3}, {"lr": [0.1, 0.2, 0.1], "method": ["gd", "momentum"]})
    assert [(j["lr"], j["method"], j["steps"]) for j in jobs] == [
        (0.1, "gd", 3), (0.1, "momentum", 3), (0.2, "gd", 3), (0.2, "momentum", 3)]
    # values that read the same once checked are one job
    assert len(schema.expand_sweep({}, {"steps": [5, 5.0], "method": ["gd", "GD", " gd"]})) == 1
    with pytest.raises(mltrack.InvalidParams) as err:
        schema.expand_sweep({}, {"lr": [0.1, 5]})
    assert err.value.field == "lr"
    with pytest.raises(mltrack.InvalidParams) as err:
        schema.expand_sweep({}, {"steps": list(range(1, 101)), "x0": list(range(-10, 1))})
    assert err.value.field == "sweep"  # 1,100 jobs: over the limit


def test_the_schema_is_plain_json_and_comes_back_equal():
    schema = quadratic().schema
    text = json.dumps(schema.to_dict(), allow_nan=False)
    assert Schema.from_dict(json.loads(text)) == schema
    unbounded = Schema("u", {"a": mltrack.Float(1.0), "b": mltrack.Bool(True)},
                       (mltrack.Metric("score"),))
    assert Schema.from_dict(json.loads(json.dumps(unbounded.to_dict(), allow_nan=False))) == unbounded


@pytest.mark.parametrize("build, words", [
    (lambda: mltrack.Task("Bad Name", {}, [mltrack.Metric("loss")], train), "task name"),
    (lambda: mltrack.Task("t", {}, [], train), "at least one metric"),
    (lambda: mltrack.Task("t", {"loss": mltrack.Int(1)}, [mltrack.Metric("loss")], train),
     "'loss' is both a hyperparameter and a metric"),
    (lambda: mltrack.Task("t", {"a": mltrack.Float(0.5, low=1, high=0)}, [mltrack.Metric("m")], train),
     "a: low (1) is above high (0)"),
    (lambda: mltrack.Task("t", {"a": mltrack.Float(0.5)}, [mltrack.Metric("m")], train, epochs="a"),
     "epochs must name an Int parameter; 'a' is Float"),
    (lambda: mltrack.Task("t", {"m": mltrack.Choice(["A", "a"])}, [mltrack.Metric("x")], train),
     "must differ"),
    (lambda: mltrack.Task("t", {"m": mltrack.Choice(["a", "a"])}, [mltrack.Metric("x")], train),
     "must differ"),
    (lambda: mltrack.Task("t", {"status": mltrack.Int(1)}, [mltrack.Metric("loss")], train), "uses itself"),
    (lambda: mltrack.Task("t", {}, [mltrack.Metric("best_loss")], train), "uses itself"),
    (lambda: mltrack.Task("t", {"a": mltrack.Int(200, low=1, high=100)}, [mltrack.Metric("m")], train),
     "default"),
    (lambda: mltrack.Task("t", {"a": mltrack.Float(1.0, when={"b": [1]})}, [mltrack.Metric("m")], train),
     "no other parameter"),
    (lambda: mltrack.Task("t", {}, [mltrack.Metric("a", primary=True), mltrack.Metric("b", primary=True)],
                          train), "at most one"),
    (lambda: mltrack.Task("t", {}, [mltrack.Metric("a", goal="up")], train), "goal"),
    (lambda: mltrack.Task("t", {}, [mltrack.Metric("a")], "not a function"), "train"),
    (lambda: mltrack.Task("t", {"a": 3}, [mltrack.Metric("m")], train), "Float, Int"),
    (lambda: mltrack.Task("t", {"lr": mltrack.Float(0.1, low=0, log=True)}, [mltrack.Metric("m")],
                          train), "lr: a log-scale Float needs low > 0"),
])
def test_a_wrong_task_declaration_says_what_is_wrong(build, words):
    with pytest.raises(TaskError) as err:
        build()
    assert words in str(err.value)


def test_goals_come_from_names_unless_given():
    assert [goal_from_name(n) for n in ("loss", "val_loss", "error_rate", "mse", "accuracy",
                                        "f1", "bleu", "lossless_ratio")] == [
        "min", "min", "min", "min", "max", "max", "max", "max"]
    assert mltrack.Metric("loss", goal="max").goal == "max"
    assert mltrack.Metric("x", primary=True).primary and "time_training" in RESERVED


def test_a_sweep_applies_a_parameter_only_where_it_means_something():
    """Momentum in a sweep over sgd and adam: the sgd jobs get it, the adam job its
    default, and jobs that then read the same are one (the form's preview counts them)."""
    from mltrack.params import MNIST
    jobs = MNIST.expand_sweep({"momentum": 0.9}, {"optimizer": ["sgd", "adam"]})
    assert [(j["optimizer"], j["momentum"]) for j in jobs] == [("adam", 0.0), ("sgd", 0.9)] \
        or [(j["optimizer"], j["momentum"]) for j in jobs] == [("sgd", 0.9), ("adam", 0.0)]
    jobs = MNIST.expand_sweep({}, {"momentum": [0.5, 0.9], "optimizer": ["sgd", "adam"]})
    assert sorted((j["optimizer"], j["momentum"]) for j in jobs) == [
        ("adam", 0.0), ("sgd", 0.5), ("sgd", 0.9)]
    # given where no job of the sweep can use it: still a mistake, named
    with pytest.raises(mltrack.InvalidParams) as err:
        MNIST.expand_sweep({"momentum": 0.9}, {"learning_rate": [0.1, 0.01]})
    assert err.value.field == "momentum" and "no job of this sweep" in str(err.value)
    # its default never hurts
    assert len(MNIST.expand_sweep({"momentum": 0.0}, {"learning_rate": [0.1, 0.01]})) == 2
    # a bad value is still named, whether it applies or not
    with pytest.raises(mltrack.InvalidParams) as err:
        MNIST.expand_sweep({"momentum": 5}, {"optimizer": ["sgd", "adam"]})
    assert err.value.field == "momentum"


def test_every_key_the_api_shows_of_a_job_is_reserved_from_metrics():
    """A metric sits beside the record's fields in a listing and a status: none
    may take a record field's name (or it would overwrite it)."""
    from mltrack.api import serialize_status
    from mltrack.store import Job
    from mltrack.task import METRIC_RESERVED
    job = Job.from_hash({"iid": "a" * 32, "task": "t", "status": "done", "hyper_params": "{}",
                         "created": "1"})
    keys = set(serialize_status(job, []))
    assert keys - METRIC_RESERVED == set()
    assert RESERVED <= METRIC_RESERVED and "tracked" in RESERVED


def test_a_declared_metric_cannot_take_a_name_of_the_job_record():
    # num_epochs is a hyperparameter name (MNIST's) but never a metric's
    mltrack.Task(name="ok", params={"num_epochs": mltrack.Int(3, low=1, high=9)},
                 metrics=[mltrack.Metric("loss")], epochs="num_epochs",
                 train=lambda params, run: None)
    with pytest.raises(TaskError, match="'num_epochs' is a name mltrack uses itself"):
        mltrack.Task(name="bad", params={}, metrics=[mltrack.Metric("num_epochs")],
                     train=lambda params, run: None)
