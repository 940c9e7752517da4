"""The fixed-buffer training step (what a CUDA graph replays) and its fallback,
on the CPU: the same results as the plain eager step, bit for bit."""
from __future__ import annotations

import logging

import pytest
import torch

from mltrack import mnist, static_step
from mltrack.checkpoint import unpack_state
from mltrack.mnist import MnistData, fit
from mltrack.params import FAST_PRESET, HyperParams
from test_mnist import synthetic_arrays


@pytest.fixture(scope="module")
def tiny():
    # 200 images at batch 48: 4 full batches and a last one of 8 per epoch
    return MnistData.from_arrays(*synthetic_arrays(200, 50))


def curve(result):
    return [{k: v for k, v in e.items() if k != "time_training"} for e in result.epochs]


def weights(result):
    return unpack_state(result.checkpoint)["model"]


@pytest.mark.parametrize("model", ["cnn", "cnn_small", "mlp"])
def test_the_static_step_equals_the_plain_step(tiny, model):
    params = HyperParams(model=model, num_epochs=2, batch_size=48, seed=3,
                         lr_schedule="onecycle", learning_rate=0.003)
    plain = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="plain")
    static = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="static")
    assert curve(static) == curve(plain)  # losses, accuracies: every epoch, exactly
    for name, tensor in weights(plain).items():
        assert torch.equal(weights(static)[name], tensor), name


def test_the_static_step_resumes_like_the_plain_one(tiny):
    params = HyperParams(model="mlp", num_epochs=3, batch_size=48, seed=1,
                         lr_schedule="onecycle", learning_rate=0.003)
    whole = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="plain")
    saved = []
    fit(params, tiny, precision="fp32", micro_batch=0, step_mode="static",
        on_epoch=lambda m, ckpt: saved.append(ckpt), should_stop=_stop_after(6))
    resumed = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="static",
                  resume_from=saved[0])
    assert curve(resumed) == curve(whole)


def test_a_failed_capture_falls_back_to_the_plain_step_and_says_so_once(
        tiny, monkeypatch, caplog):
    def broken(step):
        raise RuntimeError("capture refused (forced by the test)")

    monkeypatch.setattr(static_step, "capture_graph", broken)
    monkeypatch.setattr(static_step, "_failures_logged", set())
    params = HyperParams(model="cnn_small", num_epochs=1, batch_size=48, seed=2)
    plain = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="plain")
    with caplog.at_level(logging.WARNING, logger="mltrack.static_step"):
        first = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="graph")
        second = fit(params, tiny, precision="fp32", micro_batch=0, step_mode="graph")
    assert curve(first) == curve(plain) == curve(second)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "forced by the test" in warnings[0]
    assert "eager step" in warnings[0]


def test_auto_never_captures_on_the_cpu(tiny, monkeypatch):
    def refuse(step):
        raise AssertionError("auto tried to capture a graph on the CPU")

    monkeypatch.setattr(static_step, "capture_graph", refuse)
    fit(HyperParams(model="mlp", num_epochs=1, batch_size=32), tiny)  # auto


def test_a_static_step_needs_the_batch_whole(tiny):
    with pytest.raises(ValueError, match="micro_batch"):
        fit(HyperParams(model="cnn", num_epochs=1, batch_size=256), tiny, micro_batch=128,
            step_mode="static")
    with pytest.raises(ValueError, match="step_mode"):
        fit(HyperParams(model="mlp", num_epochs=1), tiny, step_mode="fast")


def test_cnn_small_is_the_cnn_with_half_the_channels():
    small = mnist.build_model(HyperParams(model="cnn_small"))
    cnn = mnist.build_model(HyperParams(model="cnn"))
    assert small.conv1.out_channels == 16 and small.conv2.out_channels == 32
    assert small.conv2.weight.numel() * 4 == cnn.conv2.weight.numel()
    assert small(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_fast_preset_is_a_valid_job():
    params = HyperParams(**FAST_PRESET)
    assert params.lr_schedule == "onecycle" and params.model in mnist.MODELS


def _stop_after(batches):
    count = iter(range(batches + 1))
    return lambda: next(count, batches) >= batches
