import math

import pytest

from mltrack.params import HyperParams, InvalidParams, expand_sweep


def test_defaults_match_the_design_table():
    assert HyperParams.parse({}).to_dict() == {
        "optimizer": "adam", "learning_rate": 0.001, "num_epochs": 5, "batch_size": 128,
        "model": "cnn", "lr_schedule": "constant", "momentum": 0.0, "weight_decay": 0.0,
        "seed": 0,
    }


def test_names_are_case_insensitive_and_numbers_normalised():
    hp = HyperParams.parse({"optimizer": " SGD ", "model": "MLP", "num_epochs": 3.0,
                            "learning_rate": 1, "momentum": 0.9})
    assert (hp.optimizer, hp.model, hp.num_epochs, hp.learning_rate) == ("sgd", "mlp", 3, 1.0)
    assert isinstance(hp.num_epochs, int) and isinstance(hp.learning_rate, float)


@pytest.mark.parametrize("raw, field", [
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"optimizer": 3}, "optimizer"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": 10.5}, "learning_rate"),
    ({"learning_rate": math.nan}, "learning_rate"),
    ({"learning_rate": math.inf}, "learning_rate"),
    ({"learning_rate": 10**400}, "learning_rate"),
    ({"momentum": -10**400, "optimizer": "sgd"}, "momentum"),
    ({"num_epochs": 10**400}, "num_epochs"),
    ({"num_epochs": 2.5}, "num_epochs"),
    ({"num_epochs": True}, "num_epochs"),
    ({"batch_size": 8193}, "batch_size"),
    ({"momentum": 1.0, "optimizer": "sgd"}, "momentum"),
    ({"momentum": 0.5}, "momentum"),  # adam has no momentum
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"seed": 2**31}, "seed"),
    ({"dropout": 0.5}, "dropout"),
])
def test_errors_name_the_field(raw, field):
    with pytest.raises(InvalidParams) as err:
        HyperParams.parse(raw)
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


def test_upper_bounds_are_inclusive_where_the_table_says_so():
    hp = HyperParams.parse({"learning_rate": 10, "num_epochs": 100, "batch_size": 8192,
                            "weight_decay": 1, "seed": 2**31 - 1})
    assert hp.learning_rate == 10 and hp.batch_size == 8192


def test_direct_construction_is_checked_too():
    with pytest.raises(InvalidParams):
        HyperParams(optimizer="adam", momentum=0.9)


def test_a_sweep_keeps_values_that_json_tells_apart():
    # 1 == True in Python; as JSON they are two values, and true is no seed
    with pytest.raises(InvalidParams) as err:
        expand_sweep({}, {"seed": [1, True]})
    assert err.value.field == "seed"
    assert [hp.learning_rate for hp in expand_sweep({}, {"learning_rate": [0.1, 0.1, 1]})] == [0.1, 1.0]
