"""A training step on fixed buffers, captured as one CUDA graph where it can be.

On a GPU the MNIST loop is launch-bound at small batches: a step is 30-40
small kernels, each launched from Python. A CUDA graph records them once and
replays them with one launch. Replaying needs every tensor at a fixed address,
so the step works on static buffers: the batch's indices are copied into one
tensor, the images and labels are gathered from the resident data set inside
the step, the gradients land in the same `.grad` tensors every time, and the
step's loss and correct count are added in place to two accumulators.

Only the forward, the loss and the backward are captured. The optimizer step
and the learning-rate schedule stay eager: fused Adam is one kernel anyway,
and the schedules keep setting plain Python rates (a captured optimizer would
need tensor rates and betas, which one-cycle's beta cycling does not give).

Not yet run on a GPU (none was at hand when this was written): the code keeps
to the documented recipe (warm-up on a side stream, capture with the
gradients unset so the graph owns them, autocast without its weight cache),
and any failure to capture falls back to the eager step, logged once.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

WARMUP_STEPS = 3  # eager steps on a side stream before capture (the documented recipe)
_failures_logged: set[str] = set()  # a capture that fails is logged once per process and reason


class StaticStep:
    """Forward, loss and backward of one batch of `batch` images on fixed buffers.

    `step(idx)` runs a full batch (a graph replay when captured); `partial(idx)`
    runs a smaller one (an epoch's last batch) eagerly, into the same gradient
    tensors. `loss_sum` and `correct` add up over the steps until `reset()`.
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 batch: int, *, autocast_dtype: torch.dtype | None, channels_last: bool,
                 capture: bool) -> None:
        device = images.device
        self.model, self.images, self.labels = model, images, labels
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.batch = batch
        self.channels_last = channels_last
        self.autocast_dtype = autocast_dtype
        self.idx = torch.zeros(batch, dtype=torch.int64, device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.graph: Any = capture_graph(self) if capture else None

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        # no weight cache: cached casts made during capture would live in the
        # graph's pool and be reused stale (PyTorch's CUDA graphs notes)
        return torch.autocast(self.images.device.type, dtype=self.autocast_dtype,
                              cache_enabled=False)

    def _body(self, idx: torch.Tensor, n: int) -> None:
        x, y = self.images[idx], self.labels[idx]
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            out = self.model(x)
        loss = F.cross_entropy(out.float(), y, reduction="sum")
        (loss / n).backward()
        self.loss_sum += loss.detach()
        self.correct += (out.argmax(1) == y).sum()

    def _full(self) -> None:
        self._body(self.idx, self.batch)

    def reset(self) -> None:
        """Zero the accumulators in place (the graph adds into these tensors)."""
        self.loss_sum.zero_()
        self.correct.zero_()

    def step(self, idx: torch.Tensor) -> None:
        """One full batch: the gradients of this batch alone end up in `.grad`."""
        self.idx.copy_(idx)
        if self.graph is not None:
            self.graph.replay()  # the captured backward writes (not adds) the gradients
            return
        for p in self.params:
            p.grad = None
        self._full()

    def partial(self, idx: torch.Tensor) -> None:
        """A smaller batch, eagerly. Captured, the graph owns the gradient
        tensors: they are zeroed in place, never replaced."""
        for p in self.params:
            if p.grad is not None:
                p.grad.zero_()
        self._body(idx, len(idx))


def capture_graph(step: StaticStep) -> Any:
    """A full batch of `step` captured as a CUDA graph (after a warm-up on a
    side stream). The gradients are unset before capture, so the captured
    backward allocates them from the graph's pool and every replay overwrites
    them."""
    # the warm-up trains nothing (no optimizer step), but a batch norm's running
    # statistics would move: they are put back as they were
    buffers = [(b, b.clone()) for b in step.model.buffers()]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(WARMUP_STEPS):
            for p in step.params:
                p.grad = None
            step._full()
    torch.cuda.current_stream().wait_stream(stream)
    for buffer, saved in buffers:
        buffer.copy_(saved)
    for p in step.params:
        p.grad = None
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step._full()
    torch.cuda.synchronize()
    step.reset()  # the warm-up's sums are not the epoch's
    return graph


def try_static_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int,
                    *, autocast_dtype: torch.dtype | None, channels_last: bool,
                    capture: bool) -> StaticStep | None:
    """A StaticStep, or None (with the reason logged once) when capturing
    fails: the caller then trains with its plain eager step."""
    try:
        return StaticStep(model, images, labels, batch, autocast_dtype=autocast_dtype,
                          channels_last=channels_last, capture=capture)
    except Exception as exc:  # any failure to capture: the eager loop still works
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if reason not in _failures_logged:
            _failures_logged.add(reason)
            log.warning("CUDA graph capture failed (%s); training with the eager step", reason)
        for p in model.parameters():
            p.grad = None
        if torch.cuda.is_available():
            try:
                torch.cuda.synchronize()
            except Exception:  # a broken context: the eager step will report it
                pass
        return None
