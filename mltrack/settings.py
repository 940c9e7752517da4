"""Settings: command-line options and MLTRACK_* environment variables, parsed once."""
from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mltrack.__main__ import CLIENT_COMMANDS
from mltrack.store import DEFAULT_PREFIX
from mltrack.tasks import parse_task_list

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The user's data directory for mltrack (XDG on Linux, ~/Library on macOS)."""
    xdg = environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "mltrack"
    if os.uname().sysname == "Darwin":
        return Path.home() / "Library" / "Application Support" / "mltrack"
    return Path.home() / ".local" / "share" / "mltrack"


@dataclass(frozen=True)
class Settings:
    command: str = "serve"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".")
    redis_url: str | None = None
    key_prefix: str = DEFAULT_PREFIX
    # From the environment only: a password on the command line shows in `ps`.
    password: str | None = None
    threads: int = 8
    log_level: str = "info"
    workers: int = 1
    device: str = "auto"
    lease: float = 30.0
    checkpoint_every: float = 30.0
    tasks: tuple[str, ...] = ()  # task specs (module:attr or file.py:attr) besides mnist
    keep_models: int = 100  # runmeta: trained models kept in <data dir>/models (0: none)


def is_loopback(host: str) -> bool:
    """True if every address `host` stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


class SettingsError(ValueError):
    """A setting has a value that cannot work; the message names it."""


def _bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` between low and high, or a clear error."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {value:g}")
        return value

    return parse


_port = _bounded(int, 0, 65535)
_count = _bounded(int, 0, 64)  # worker threads
_seconds = _bounded(float, 1, 3600)  # the lease
_checkpoint_seconds = _bounded(float, 0, 86400)
_positive = _bounded(int, 1, 256)  # HTTP threads
_models = _bounded(int, 0, 1_000_000)  # runmeta: --keep-models


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    env = environ.get
    parser = argparse.ArgumentParser(
        prog="mltrack",
        description="Run and track machine-learning experiments: a dashboard, a REST API "
                    "and training workers in one process (`serve`, the default), or only "
                    "workers that join a shared queue (`worker --redis-url ...`). Every "
                    "option can also be set with an environment variable (in brackets).",
        epilog="Environment only: MLTRACK_PASSWORD, the password for HTTP basic auth "
               "(required when --host is not a loopback address; user name: any). "
               "Client commands, to a running mltrack at --url or MLTRACK_URL: "
               f"mltrack {'|'.join(CLIENT_COMMANDS)} "
               "(mltrack ls --help, mltrack search --help).",
    )
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "worker"],
        help="serve: the dashboard, the API and --workers worker threads (default); "
             "worker: only worker threads, on the Redis of --redis-url")
    parser.add_argument(
        "--host", default=env("MLTRACK_HOST", DEFAULT_HOST),
        help="address to listen on [MLTRACK_HOST] (default: %(default)s, this machine "
             "only; any other address needs MLTRACK_PASSWORD)")
    parser.add_argument(
        "--port", type=_port, default=env("MLTRACK_PORT", str(DEFAULT_PORT)),
        help="port to listen on, 0 picks a free one [MLTRACK_PORT] (default: %(default)s)")
    parser.add_argument(
        "--data-dir", type=Path, default=env("MLTRACK_DATA_DIR") or str(default_data_dir(environ)),
        help="where the embedded database keeps its files [MLTRACK_DATA_DIR] "
             "(default: %(default)s)")
    parser.add_argument(
        "--redis-url", default=env("MLTRACK_REDIS_URL") or None,
        help="use this Redis instead of the embedded one, e.g. redis://host:6379/0 or "
             "unix:///path/to/sock [MLTRACK_REDIS_URL] (default: start the embedded one)")
    parser.add_argument(
        "--key-prefix", default=env("MLTRACK_KEY_PREFIX", DEFAULT_PREFIX),
        help="prefix of every Redis key, so several mltracks can share one Redis "
             "[MLTRACK_KEY_PREFIX] (default: %(default)s)")
    parser.add_argument(
        "--workers", type=_count, default=env("MLTRACK_WORKERS", "1"),
        help="training worker threads in this process, 0 for a dashboard-only node "
             "[MLTRACK_WORKERS] (default: %(default)s)")
    parser.add_argument(
        "--device", default=env("MLTRACK_DEVICE", "auto"),
        choices=["auto", "cpu", "cuda", "mps"],
        help="where workers train: auto picks CUDA, then MPS, then the CPU "
             "[MLTRACK_DEVICE] (default: %(default)s)")
    parser.add_argument(
        "--lease", type=_seconds, default=env("MLTRACK_LEASE", "30"),
        help="seconds before a job whose worker stopped answering goes back to the "
             "queue [MLTRACK_LEASE] (default: %(default)s)")
    parser.add_argument(
        "--checkpoint-every", type=_checkpoint_seconds,
        default=env("MLTRACK_CHECKPOINT_EVERY", "30"), metavar="SECONDS",
        help="save a running job's checkpoint at most this often (0: every epoch), and "
             "when it stops gracefully; a killed worker's job repeats at most this much "
             "training [MLTRACK_CHECKPOINT_EVERY] (default: %(default)s)")
    parser.add_argument(
        "--task", action="append", dest="tasks", metavar="MODULE:ATTR",
        help="a task to run and show besides the built-in mnist: module:attr "
             "(mypkg.tasks:task) or path/to/file.py:attr (attr defaults to task); "
             "repeat it for several [MLTRACK_TASKS, comma separated] (installed packages "
             "add theirs through the mltrack.tasks entry point)")
    parser.add_argument(  # runmeta
        "--keep-models", type=_models, default=env("MLTRACK_KEEP_MODELS", "100"), metavar="N",
        help="keep the trained models (final weights) of the N most recently finished runs "
             "in <data dir>/models, for download; 0 keeps none [MLTRACK_KEEP_MODELS] "
             "(default: %(default)s)")
    parser.add_argument(
        "--threads", type=_positive, default=env("MLTRACK_THREADS", "8"),
        help="HTTP server threads [MLTRACK_THREADS] (default: %(default)s)")
    parser.add_argument(
        "--log-level", default=env("MLTRACK_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="log verbosity [MLTRACK_LOG_LEVEL] (default: %(default)s)")
    return parser


def parse_settings(argv: Sequence[str] | None = None,
                   environ: Mapping[str, str] = os.environ) -> Settings:
    """Parse options (argparse exits with a message naming a bad option)."""
    parser = build_parser(environ)
    # argparse runs each option's type on string defaults too, so a bad
    # MLTRACK_PORT is reported like a bad --port.
    args = parser.parse_args(argv)
    if not args.key_prefix:
        parser.error("--key-prefix must not be empty")
    if args.command == "worker" and not args.redis_url:
        parser.error("worker needs --redis-url (or MLTRACK_REDIS_URL): the embedded "
                     "database of `serve` is private to its process")
    return Settings(
        command=args.command,
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir).expanduser(),
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
        password=environ.get("MLTRACK_PASSWORD") or None,
        threads=args.threads,
        log_level=args.log_level,
        workers=args.workers,
        device=args.device,
        lease=args.lease,
        checkpoint_every=args.checkpoint_every,
        keep_models=args.keep_models,
        tasks=tuple(args.tasks if args.tasks is not None
                    else parse_task_list(environ.get("MLTRACK_TASKS", ""))),
    )


def check_exposure(settings: Settings) -> None:
    """Refuse to serve on a non-loopback address without a password."""
    if not is_loopback(settings.host) and not settings.password:
        raise SettingsError(
            f"--host {settings.host} makes mltrack reachable from other machines, so it "
            "needs a password: set MLTRACK_PASSWORD (clients then use HTTP basic auth), "
            "or keep the default --host 127.0.0.1")
