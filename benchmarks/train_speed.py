"""One CNN epoch the seed's way (per-sample Dataset + DataLoader) against mltrack's `fit`,
and the built-in task `mnist` (fit behind the task interface's Run) against fit alone.

Same data, same device, same network and optimizer (Adam, lr 1e-3), measured in
one run after a warm-up; the ratio is what counts on a shared machine.

    python benchmarks/train_speed.py [--device cpu|cuda|auto] [--batch-size 1024]
                                     [--repeat 1] [--data-dir DIR] [--graphs-only]

On CUDA it also prints the CUDA-graph table: seconds per epoch of the CNN at
batch 128 and 1024 with the plain eager step and with the captured one
(fit's step_mode plain vs graph; the second epoch, after the capture), and
the time to 99.0% test accuracy of the fast preset both ways. Written
without a GPU at hand: not yet run on one.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from mltrack.mnist import MEAN, STD, build_model, evaluate, fit, load_mnist, resolve_device
from mltrack.mnist_task import TASK
from mltrack.params import FAST_PRESET, HyperParams
from mltrack.settings import default_data_dir


def seed_way_epoch(root: Path, params: HyperParams, device: torch.device,
                   max_batches: int | None = None) -> tuple[float, float, int]:
    """The seed's loop: torchvision Dataset with transforms, DataLoader, fp32."""
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=params.batch_size, shuffle=True)
    model = build_model(params).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    model.train()
    images = 0
    start = time.perf_counter()
    for n, (x, y) in enumerate(loader):
        if max_batches is not None and n >= max_batches:
            break
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        images += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    data = load_mnist(root, device)
    _, accuracy = evaluate(model, data.test_x, data.test_y, autocast=nullcontext,
                           channels_last=False)
    return seconds, accuracy, images


class TimingRun:
    """A Run without a store: when training started (describe) and when the
    epoch was logged, so the task costs what fit costs, or more."""

    checkpoint = None
    epochs_done = 0
    cpu_threads = torch.get_num_threads()  # all of them, as fit alone gets

    def __init__(self, device: torch.device, data_dir: Path):
        self.device, self.data_dir = str(device), data_dir
        self.logger = logging.getLogger("train_speed")
        self.started = self.logged = 0.0
        self.accuracy = 0.0

    def describe(self, **info: str) -> None:
        self.started = time.perf_counter()

    def log(self, epoch: int, metrics: dict, checkpoint: bytes | None = None) -> None:
        self.logged, self.accuracy = time.perf_counter(), metrics["test_accuracy"]

    def progress(self, done: int, total: int) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def task_epoch(root: Path, params: HyperParams, device: torch.device) -> tuple[float, float]:
    """One epoch of the built-in task through a Run: training and evaluation."""
    run = TimingRun(device, root)
    TASK.train(params.to_dict(), run)
    return run.logged - run.started, run.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1, help="epochs timed per way")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir() / "mnist")
    parser.add_argument("--graphs-only", action="store_true",
                        help="on CUDA: only the CUDA-graph table")
    args = parser.parse_args()
    device = resolve_device(args.device)
    params = HyperParams(model="cnn", optimizer="adam", learning_rate=1e-3,
                         batch_size=args.batch_size, num_epochs=1)
    data = load_mnist(args.data_dir, device)
    n = len(data.train_x)
    if device.type == "cuda" and args.graphs_only:
        cuda_graphs_table(data, device, args.repeat)
        return
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CNN, Adam 1e-3, batch {args.batch_size}, {n:,} images per epoch")

    # warm-up: allocator, kernels, thread pools
    seed_way_epoch(args.data_dir, params, device, max_batches=3)
    fit(HyperParams(model="cnn", batch_size=args.batch_size, num_epochs=1), data,
        device=device, should_stop=_stop_after(3))

    rows = {"seed's way (Dataset + DataLoader, fp32)": [], "mltrack fit": []}
    precision = ""
    fit_whole, task_whole = [], []  # training + evaluation, seconds
    for _ in range(args.repeat):  # alternate, so load hits both alike
        s, acc, _ = seed_way_epoch(args.data_dir, params, device)
        rows["seed's way (Dataset + DataLoader, fp32)"].append((s, acc))
        result = fit(params, data, device=device)
        rows["mltrack fit"].append((result.timings[0]["train_seconds"],
                                    result.epochs[0]["test_accuracy"]))
        precision = result.precision
        fit_whole.append(result.epochs[0]["time_training"])
        task_whole.append(task_epoch(args.data_dir, params, device)[0])
    print(f"\n{'way':<42} {'s / epoch':>10} {'images / s':>11} {'test acc %':>11}")
    medians = {}
    for way, runs in rows.items():
        seconds = statistics.median(r[0] for r in runs)
        accuracy = statistics.median(r[1] for r in runs)
        medians[way] = seconds
        label = way if way != "mltrack fit" else f"mltrack fit ({precision})"
        print(f"{label:<42} {seconds:>10.2f} {n / seconds:>11,.0f} {accuracy:>11.2f}")
    seed, ours = medians.values()
    print(f"\nspeed-up: {seed / ours:.2f}x  (median of {args.repeat}; one epoch each, "
          "training only, the test-set evaluation not counted)")
    fit_s, task_s = statistics.median(fit_whole), statistics.median(task_whole)
    print(f"built-in task mnist through a Run: {task_s:.2f} s / epoch against fit alone "
          f"{fit_s:.2f} s ({task_s / fit_s:.3f}x; training and evaluation, median of "
          f"{args.repeat})")

    mlp = fit(HyperParams(model="mlp", batch_size=args.batch_size, num_epochs=5), data,
              device=device)
    seconds = statistics.median(t["train_seconds"] for t in mlp.timings)
    print(f"MLP 784-256-10, batch {args.batch_size}, {mlp.precision}: {seconds:.3f} s per epoch "
          f"(median of 5 epochs), test accuracy {mlp.epochs[-1]['test_accuracy']:.2f}% after 5")
    if device.type == "cuda":
        cuda_graphs_table(data, device, args.repeat)


TARGET = 99.0


def cuda_graphs_table(data, device: torch.device, repeat: int) -> None:
    """The CNN's epoch at batch 128 and 1024 with the plain step and the
    captured one (CUDA graphs), and the fast preset's time to 99% both ways."""
    print(f"\nCUDA graphs on {torch.cuda.get_device_name(device)} (median of {repeat})")
    print(f"{'batch':>6} {'step':>6} {'s / epoch':>10} {'images / s':>11} {'vs plain':>9}"
          f" {'precision':>9}")
    for batch in (128, 1024):
        params = HyperParams(model="cnn", optimizer="adam", learning_rate=1e-3,
                             batch_size=batch, num_epochs=2)
        medians = {}
        for mode in ("plain", "graph"):
            runs = [fit(params, data, device=device, step_mode=mode, micro_batch=0)
                    for _ in range(repeat)]
            # the second epoch: the first pays for cuDNN's choices and the capture
            seconds = statistics.median(r.timings[1]["train_seconds"] for r in runs)
            medians[mode] = seconds
            used = runs[0].step_mode  # "plain" when a capture failed (logged)
            print(f"{batch:>6} {used:>6} {seconds:>10.3f} {len(data.train_x) / seconds:>11,.0f}"
                  f" {medians['plain'] / seconds:>8.2f}x {runs[0].precision:>9}", flush=True)
    print(f"\nfast preset {FAST_PRESET} to {TARGET}% test accuracy, fit alone")
    for mode in ("plain", "graph"):
        times = []
        for _ in range(repeat):
            reached: list[float] = []
            start = time.perf_counter()

            def on_epoch(metrics, _checkpoint, reached=reached, start=start):
                if not reached and metrics["test_accuracy"] >= TARGET:
                    reached.append(time.perf_counter() - start)

            result = fit(HyperParams(**FAST_PRESET), data, device=device, step_mode=mode,
                         micro_batch=0, on_epoch=on_epoch)
            times.append(reached[0] if reached else None)
        shown = ", ".join("never" if t is None else f"{t:.2f}" for t in times)
        done = [t for t in times if t is not None]
        median = f"{statistics.median(done):.2f} s" if len(done) == len(times) else "not always"
        print(f"  {mode:<6} {median:>10}  (runs: {shown}; {result.step_mode}, "
              f"final {result.epochs[-1]['test_accuracy']:.2f}%)", flush=True)


def _stop_after(batches: int):
    count = iter(range(batches + 1))
    return lambda: next(count, batches) >= batches


if __name__ == "__main__":
    main()
