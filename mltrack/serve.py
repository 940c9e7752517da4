"""`mltrack serve` (the default) and `mltrack worker`: the dashboard, the API and
the workers in one process, wiring and clean shutdown. `mltrack.__main__` sends
every other command line here; the client's commands go to `mltrack.cli`."""
from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from typing import Mapping, Sequence

import redis

from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis, EmbeddedServerError, Watchdog
from mltrack.model_files import ModelFiles, start_keeper
from mltrack.security import SERVER_MAX_BODY
from mltrack.settings import (Settings, SettingsError, check_exposure, is_loopback,
                              parse_settings)
from mltrack.store import Store
from mltrack.task import Task
from mltrack.tasks import TaskLoadError, load_tasks

log = logging.getLogger("mltrack")


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM, to unwind and stop cleanly."""


def _raise_stop(signum, _frame):
    raise _Stop(signal.Signals(signum).name)


class _FatalError:
    """A reason to exit that arises in another thread (the database watchdog):
    it is kept, and the main thread is stopped as by SIGTERM, so everything
    shuts down in order before mltrack exits non-zero with the reason."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def open_store(settings: Settings, stack: contextlib.ExitStack,
               on_database_lost: "_FatalError | None" = None) -> Store:
    """Connect to --redis-url, or start the embedded server (stopped by `stack`)
    and a watchdog that restarts it if it dies (`on_database_lost` if it cannot)."""
    if settings.redis_url:
        store = Store.from_url(settings.redis_url, settings.key_prefix)
        log.info("database: %s", settings.redis_url)
    else:
        embedded = stack.enter_context(EmbeddedRedis(settings.data_dir))
        store = Store.from_url(embedded.url, settings.key_prefix)
        if on_database_lost is not None:
            stack.enter_context(Watchdog(embedded, on_give_up=on_database_lost))
    store.ping()
    return store


def start_training(settings: Settings, store: Store, stack: contextlib.ExitStack,
                   tasks: Mapping[str, Task]) -> None:
    """Worker threads and the reaper; the stack stops them first on the way out.
    The tasks' schemas are registered even without workers, so this dashboard
    takes jobs of them for workers elsewhere."""
    from mltrack.worker import (WorkerConfig, register_tasks, requeue_jobs_of_dead_workers,
                                run_reaper, start_workers)

    register_tasks(store, tasks.values())
    config = WorkerConfig(lease=settings.lease, checkpoint_every=settings.checkpoint_every)
    if not settings.redis_url:  # a killed mltrack's jobs resume now, not after their lease
        requeue_jobs_of_dead_workers(store, config)
    stop = threading.Event()
    threads = [threading.Thread(target=run_reaper, args=(store, stop, config), daemon=True,
                                name="reaper")]
    threads[0].start()
    # search: every mltrack process drives searches (one at a time per search, by lock)
    from mltrack.search.driver import start_driver
    threads.append(start_driver(store, stop))
    if settings.workers:
        threads += start_workers(store, tasks, settings.workers, stop, config,
                                 data_dir=settings.data_dir, device=settings.device)

    def stop_training() -> None:
        # Running jobs stop at their next batch and go back to the queue,
        # their checkpoint kept; the next start resumes them.
        stop.set()
        deadline = time.monotonic() + 60
        try:
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("%s did not stop in time; its job resumes after its lease "
                                "runs out", thread.name)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            log.warning("not waiting for the workers; their jobs resume after their lease "
                        "runs out")

    stack.callback(stop_training)


def run_workers(settings: Settings, tasks: Mapping[str, Task]) -> int:
    """`mltrack worker`: worker threads on a shared Redis, until SIGINT / SIGTERM."""
    with contextlib.ExitStack() as stack:
        store = open_store(settings, stack)
        start_training(settings, store, stack, tasks)
        print(f"mltrack worker: {settings.workers} worker thread(s) on {settings.redis_url}, "
              f"tasks {', '.join(tasks)} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt as why:  # _Stop too
            log.info("stopping (%s)", str(why) or "SIGINT")
    return 0


def serve(settings: Settings, tasks: Mapping[str, Task]) -> int:
    import waitress

    fatal = _FatalError()
    try:
        with contextlib.ExitStack() as stack:
            store = open_store(settings, stack, on_database_lost=fatal)
            models = ModelFiles(settings.data_dir / "models", settings.keep_models)  # runmeta
            app = create_app(store, password=settings.password,
                             loopback_only=is_loopback(settings.host), models=models)
            try:
                server = waitress.create_server(app, host=settings.host, port=settings.port,
                                                threads=settings.threads, ident="mltrack",
                                                max_request_body_size=SERVER_MAX_BODY)
            except OSError as exc:  # in use, not this machine's address, not allowed
                raise SettingsError(f"cannot listen on {_url(settings.host, settings.port)}: "
                                    f"{exc.strerror or exc}") from exc
            stack.callback(server.close)
            start_training(settings, store, stack, tasks)
            keeper_stop = threading.Event()  # runmeta: models from Redis to the data dir
            start_keeper(models, store, keeper_stop)
            stack.callback(keeper_stop.set)
            if hasattr(server, "effective_port"):
                host, port = server.effective_host, server.effective_port
            else:  # a name that resolves to several addresses: several sockets
                host, port = server.effective_listen[0][:2]
            print(f"mltrack {settings.command}: dashboard at {_url(host, port)}  "
                  f"(Ctrl-C to stop)", flush=True)
            server.run()
    except KeyboardInterrupt as why:  # _Stop too; the stack has stopped everything
        log.info("stopped (%s)", fatal.reason or str(why) or "SIGINT")
    if fatal.reason:
        print(f"mltrack: {fatal.reason}", file=sys.stderr)
        return 1
    log.info("stopped")
    return 0


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # waitress warns "Task queue depth is 6" whenever a page's burst of Dash
    # callbacks waits a moment for a thread: many a minute, and nothing to act
    # on. Shown with --log-level debug.
    if level.lower() != "debug":
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    configure_logging(settings.log_level)
    # Both set explicitly: a process started in the background inherits an
    # ignored SIGINT, and Ctrl-C must still stop it.
    previous_handlers = {sig: signal.signal(sig, _raise_stop)
                         for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # First, before any server starts: a task that does not load is the
        # user's to fix, and says why in one line.
        tasks = load_tasks(settings.tasks)
        if settings.command == "worker":
            return run_workers(settings, tasks)
        check_exposure(settings)
        return serve(settings, tasks)
    except (SettingsError, EmbeddedServerError, TaskLoadError) as exc:
        print(f"mltrack: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"mltrack: cannot use the database at "
              f"{settings.redis_url or settings.data_dir}: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
