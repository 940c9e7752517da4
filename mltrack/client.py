"""A Python client of a running mltrack's REST API, for scripts and notebooks.

    import mltrack
    client = mltrack.Client()                       # MLTRACK_URL, MLTRACK_PASSWORD
    iids = client.sweep({"model": "mlp"}, {"learning_rate": [0.1, 0.01]})
    client.wait(iids)                               # a progress bar until they end
    df = client.experiments(sort="test_accuracy")   # a pandas DataFrame, the table's order

and tracking a script that runs outside mltrack's queue:

    with client.start_run(task="my-experiment", hyper_params={"lr": 0.01}) as run:
        for epoch in range(1, 11):
            run.log(epoch, {"loss": ..., "val_acc": ...})

This module imports only `requests` (neither torch, dash nor redis); pandas is
imported when a DataFrame is built and tqdm when `wait` draws its bar. Every
error is a `ClientError` carrying the HTTP status, the field and the server's
message.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_URL = "http://127.0.0.1:8050"
# The server's largest page (api.MAX_PAGE): the fewest round trips for a full listing.
MAX_PAGE = 1000
TERMINAL = frozenset({"done", "failed", "cancelled", "pruned"})
# The keys of a listing's record that are neither hyperparameters nor metrics
# (api.serialize_job); every other key of a record is a metric (last or best_).
RECORD_FIELDS = ("iid", "task", "status", "hyper_params", "time_added", "created", "started",
                 "finished", "attempts", "epochs_done", "num_epochs", "error",
                 "cancel_requested", "worker", "device", "precision", "progress", "retry_of",
                 "tracked", "runtime", "traceback", "in_update", "tags", "note", "search", "trial")
_TIMES = ("created", "started", "finished")
WAIT_BATCH = 25  # jobs whose status `wait` reads per round
# Delays before a tracked run's log or finish is sent again when no answer came.
RESEND_DELAYS = (0.5, 1.0, 2.0, 4.0)

log = logging.getLogger(__name__)


class ClientError(Exception):
    """Anything that went wrong talking to mltrack. `status` is the HTTP status
    (None when no answer came: mltrack unreachable, a timeout, a bad value
    refused before sending), `field` the field the server named, `message`
    the server's message."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None,
                 url: str | None = None, body: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message, self.status, self.field, self.url = message, status, field, url
        self.body = dict(body or {})  # the server's whole error answer (current_status...)

    def __str__(self) -> str:
        return self.message if self.status is None else f"{self.message} (HTTP {self.status})"

    def __repr__(self) -> str:
        # What a notebook shows for an error left as a cell's last value.
        extra = "".join(f", {name}={value!r}" for name, value in
                        (("status", self.status), ("field", self.field)) if value is not None)
        return f"{type(self).__name__}({self.message!r}{extra})"


class RunStopped(ClientError):
    """A tracked run that mltrack no longer takes writes for: cancelled in the
    dashboard, failed as lost, deleted. Raised by `log` after the stop; a
    `with` block of its own run swallows it (the block ends, the script goes on)."""


class Client:
    """mltrack's REST API as Python calls; see the module's docstring."""

    def __init__(self, url: str | None = None, password: str | None = None,
                 timeout: float = 30.0):
        self.url = (url or os.environ.get("MLTRACK_URL") or DEFAULT_URL).rstrip("/")
        if "://" not in self.url:
            self.url = "http://" + self.url
        self.password = password if password is not None else os.environ.get("MLTRACK_PASSWORD")
        self.timeout = timeout
        self.session = self._new_session()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # The server takes any user name; only the password is checked.
        session.auth = ("mltrack", self.password) if self.password else None
        # Retried only when the connection could not be made, so the request was
        # never sent: resending a POST that may have reached the server would
        # queue its jobs twice.
        retries = Retry(total=None, connect=2, read=0, status=0, other=0, redirect=0,
                        backoff_factor=0.2, allowed_methods=None)
        session.mount("http://", HTTPAdapter(max_retries=retries))
        session.mount("https://", HTTPAdapter(max_retries=retries))
        return session

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def close(self) -> None:
        """Close the kept-alive connections (a `with Client() as client:` does)."""
        self.session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- HTTP ----------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, Any] | None = None,
                session: requests.Session | None = None) -> Any:
        """One call; the answer's JSON, or a ClientError with the server's message."""
        url = self.url + path
        try:
            response = (session or self.session).request(
                method, url, json=json, params=params, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise ClientError(f"cannot reach mltrack at {self.url}: {_reason(exc)} (is it "
                              "running? start it with `python -m mltrack`, or give its "
                              "address with --url / MLTRACK_URL)", url=url) from None
        except requests.Timeout:
            raise ClientError(f"mltrack at {self.url} did not answer {method} {path} within "
                              f"{self.timeout:g} s", url=url) from None
        except requests.RequestException as exc:
            raise ClientError(f"{method} {url}: {exc}", url=url) from None
        except TypeError as exc:  # a value json cannot write (a set, an object)
            raise ClientError(f"body: {exc}", field="body", url=url) from None
        expected = response.headers.get("Content-Length", "")
        if expected.isdigit() and len(response.content) < int(expected):
            response.close()
            raise ClientError(f"the answer of mltrack at {self.url} to {method} {path} was cut "
                              "off", url=url)
        try:
            body = response.json()
        except ValueError:
            body = None
        finally:
            # Back to the pool now: an error raised below keeps this frame (and
            # so the response) alive in its traceback.
            response.close()
        if response.status_code >= 400:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                raise ClientError(body["error"], response.status_code, body.get("field"), url,
                                  body)
            text = response.text.strip()[:200] or response.reason
            if response.status_code == 401:
                text = (f"mltrack at {self.url} needs its password: set MLTRACK_PASSWORD "
                        "(or Client(password=...))")
            raise ClientError(text, response.status_code, None, url)
        if body is None:
            raise ClientError(f"{method} {url} answered {response.status_code} without JSON "
                              "(is this an mltrack?)", response.status_code, None, url)
        return body

    # -- jobs ------------------------------------------------------------------
    def submit(self, hyper_params: Mapping[str, Any] | None = None, task: str = "mnist",
               if_exists: str = "run") -> str:
        """Queue one job; its iid. Defaults fill in what `hyper_params` leaves out.
        `if_exists="skip"`: when a job of the task with the same hyperparameters
        (defaults filled in, seed included) is done, running or waiting, its iid
        instead of a new job (done first, then running, then waiting)."""
        body = {"task": task, "hyper_params": _plain(hyper_params)}
        if if_exists != "run":
            body["if_exists"] = if_exists
        return self.request("POST", "/train", json=body)["iid"]

    def sweep(self, base: Mapping[str, Any] | None, grid: Mapping[str, Sequence[Any]],
              task: str = "mnist", if_exists: str = "run") -> list[str]:
        """Queue every combination of `grid`'s values on top of `base`, in one
        batch (all or nothing); the iids, in the order of the combinations.
        Each of `grid`'s values is a list (tuple, range, array) of values; a
        single value there is a ClientError naming it (put it in `base`).
        `if_exists="skip"`: a combination that exists (see submit) is its
        existing job's iid, not queued again."""
        body = {"task": task, "hyper_params": _plain(base),
                "sweep": {name: _values(name, values) for name, values in grid.items()}}
        if if_exists != "run":
            body["if_exists"] = if_exists
        return self.request("POST", "/sweep", json=body)["iids"]

    # -- runmeta: tags, notes, the trained model ------------------------------------
    def tag(self, iid: str, add: str | Iterable[str] = (),
            remove: str | Iterable[str] = ()) -> list[str]:
        """Add and remove tags of a run (any run); its tags now (lower case)."""
        body = {"add": [add] if isinstance(add, str) else list(add),
                "remove": [remove] if isinstance(remove, str) else list(remove)}
        return self.request("POST", f"/experiments/{iid}/tags", json=body)["tags"]

    def set_tags(self, iid: str, tags: Iterable[str]) -> list[str]:
        """Replace a run's tags (a list, not one string); its tags now."""
        if isinstance(tags, (str, bytes)):  # not read as its characters
            raise TypeError(f"tags must be a list of tags, not one {type(tags).__name__}: "
                            f"set_tags(iid, [{tags!r}])")
        return self.request("PUT", f"/experiments/{iid}/tags", json={"tags": list(tags)})["tags"]

    def note(self, iid: str, text: str | None) -> str | None:
        """Set a run's note ('' or None removes it); the note now."""
        return self.request("PUT", f"/experiments/{iid}/note", json={"note": text})["note"]

    def model(self, iid: str, path: str | os.PathLike[str] | None = None) -> bytes:
        """A done run's trained model file (bytes; also written to `path` if
        given). MNIST's: mltrack.mnist_task.load_model(bytes) builds the network."""
        url = f"{self.url}/experiments/{iid}/model"
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ClientError(f"GET {url}: {_reason(exc)}", url=url) from None
        if response.status_code != 200:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:200] or response.reason
            raise ClientError(message, response.status_code, None, url)
        if path is not None:
            with open(path, "wb") as out:
                out.write(response.content)
        return response.content

    def status(self, iid: str) -> dict[str, Any]:
        """A job's record, with its per-epoch metrics as columns (`in_update`)."""
        return self.request("GET", f"/status/{iid}")

    def cancel(self, iid: str) -> dict[str, Any]:
        """Cancel a waiting job at once, a running one within a batch."""
        return self.request("POST", f"/experiments/{iid}/cancel", json={})

    def retry(self, iid: str) -> str:
        """A failed or cancelled job again, as a new job; the new iid."""
        return self.request("POST", f"/experiments/{iid}/retry", json={})["iid"]

    def delete(self, iid: str) -> None:
        """Delete a finished job."""
        self.request("DELETE", f"/experiments/{iid}")

    def tasks(self) -> list[dict[str, Any]]:
        """Every task with its schema, live workers and waiting jobs."""
        return self.request("GET", "/tasks")["tasks"]

    def task(self, name: str) -> dict[str, Any]:
        """One task's schema (parameters, metrics, primary metric)."""
        return self.request("GET", f"/tasks/{name}")

    def health(self) -> dict[str, Any]:
        """Whether mltrack and its database answer, and the jobs per status."""
        return self.request("GET", "/health")

    def workers(self) -> list[dict[str, Any]]:
        return self.request("GET", "/workers")["workers"]

    # -- search: searches on Optuna (POST /searches; mltrack.search) ---------------
    def search(self, task: str, space: Mapping[str, Any], *, trials: int,
               fixed: Mapping[str, Any] | None = None, sampler: str = "tpe",
               parallel: int = 1, pruner: str | None = None,
               objective: str | Mapping[str, str] | None = None, seed: int | None = None,
               name: str | None = None) -> str:
        """Start a search of `trials` trials; its id. `space` maps each searched
        hyperparameter to a range {"low", "high", "log"} or a list of values;
        `objective` is a metric's name or {"metric", "goal"} (default: the
        task's primary metric); `pruner` "median" or "halving" stops trials
        that fall behind (status pruned)."""
        body: dict[str, Any] = {"task": task, "space": dict(space), "trials": trials,
                                "fixed": _plain(fixed), "sampler": sampler,
                                "parallel": parallel, "pruner": pruner}
        if objective is not None:
            body["objective"] = ({"metric": objective} if isinstance(objective, str)
                                 else dict(objective))
        if seed is not None:
            body["seed"] = seed
        if name is not None:
            body["name"] = name
        return self.request("POST", "/searches", json=body)["id"]

    def search_status(self, search_id: str) -> dict[str, Any]:
        """A search's record: status, counts, best trial, its trials' iids."""
        return self.request("GET", f"/searches/{search_id}")

    def searches(self) -> list[dict[str, Any]]:
        """Every search's record, newest first."""
        return self.request("GET", "/searches")["searches"]

    def cancel_search(self, search_id: str) -> dict[str, Any]:
        """No new trials; the search's waiting and running trials cancelled."""
        return self.request("POST", f"/searches/{search_id}/cancel", json={})

    def search_trials(self, search_id: str, sort: str = "created") -> list[dict[str, Any]]:
        """The search's trial jobs as listed records (GET /experiments?search=)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", "/experiments", params={
                "search": search_id, "sort": sort, "limit": MAX_PAGE, "offset": len(out)})
            out += page["results"]
            if not page["results"] or len(out) >= page["total"]:
                return out

    def analysis(self, task: str | None = None, *, search: str | None = None,
                 metric: str | None = None, status: str | None = None, q: str | None = None,
                 tag: str | Sequence[str] | None = None,
                 evaluator: str | None = None) -> dict[str, Any]:
        """Which hyperparameters matter among the done runs of `task` (or of
        `search`'s trials) that the filters pick, judged by `metric` (default: the
        search's objective, else the task's primary metric): GET /analysis.
        `importance` lists each varying hyperparameter's share, most important
        first; `best` is the best run; `message` says why there is no importance."""
        return self.request("GET", "/analysis", params=_query(
            task=task, search=search, metric=metric, status=status, q=q,
            evaluator=evaluator, tag=tag))

    # -- waiting -----------------------------------------------------------------
    def wait(self, iids: str | Iterable[str], timeout: float | None = None,
             poll: float = 1.0, progress: bool = True) -> Any:
        """Wait until every job has ended (done, failed or cancelled), with a
        progress bar of their epochs (tqdm; a widget in a notebook). Returns the
        final records (`status`'s), in the order given; one record for one iid.
        A ClientError when `timeout` seconds pass first."""
        single = isinstance(iids, str)
        wanted = [iids] if single else list(iids)
        records = {iid: self.status(iid) for iid in wanted}
        bar = None
        if progress:
            from tqdm.auto import tqdm  # here: tqdm.auto looks for a notebook at import

            # n counts epochs with the current one's fraction: {n:.4g}, not 9.0
            bar = tqdm(total=_work(records.values()), dynamic_ncols=True,
                       desc=f"{len(wanted)} job" + "s" * (len(wanted) != 1),
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.4g}/{total} epochs "
                                  "[{elapsed}<{remaining}{postfix}]")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if bar is not None:
                    bar.total = _work(records.values())
                    bar.n = round(_done(records.values()), 2)
                    bar.set_postfix(_tally(records.values()), refresh=False)
                    bar.refresh()
                if all(r["status"] in TERMINAL for r in records.values()):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    left = [i for i, r in records.items() if r["status"] not in TERMINAL]
                    raise ClientError(f"timed out after {timeout:g} s; {len(left)} job(s) not "
                                      f"finished: {', '.join(left[:5])}")
                time.sleep(poll if deadline is None
                           else max(0.0, min(poll, deadline - time.monotonic())))
                # At most WAIT_BATCH status calls a round, taking turns: a sweep of
                # 1,000 jobs must not cost the server 1,000 requests a second.
                unfinished = [i for i, r in records.items() if r["status"] not in TERMINAL]
                turn = unfinished[:WAIT_BATCH]
                for iid in turn:
                    records[iid] = self.status(iid)
                # the ones just read go to the back of the line
                for iid in turn:
                    records[iid] = records.pop(iid)
        finally:
            if bar is not None:
                bar.close()
        return records[wanted[0]] if single else [records[i] for i in wanted]

    # -- listings ----------------------------------------------------------------
    def page(self, sort: str = "created", order: str | None = None, status: str | None = None,
             task: str | None = None, q: str | None = None, limit: int = 100,
             offset: int = 0, tag: str | Sequence[str] | None = None,
             search: str | None = None) -> dict[str, Any]:
        """One page of GET /experiments as the server answers it (results, total);
        `tag`: only runs with that tag (a list: with every one); `search`: only
        that search's trials."""
        return self.request("GET", "/experiments", params=_query(
            sort=sort, order=order, status=status, task=task, q=q, limit=limit,
            offset=offset, search=search, tag=tag))

    def records(self, sort: str = "created", order: str | None = None,
                status: str | None = None, task: str | None = None, q: str | None = None,
                limit: int | None = None, tag: str | Sequence[str] | None = None,
                search: str | None = None) -> list[dict[str, Any]]:
        """The listing's records in the server's order: every matching job when
        `limit` is None or 0 (as `mltrack ls --limit 0`), fetched in the server's
        largest pages; a negative or non-whole limit is a ClientError."""
        return list(self._iter_records(sort, order, status, task, q, _limit(limit), tag, search))

    def _iter_records(self, sort, order, status, task, q, limit,
                      tag=None, search=None) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        offset = 0
        while limit is None or len(seen) < limit:
            size = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(seen))
            page = self.page(sort, order, status, task, q, size, offset, tag, search)
            for record in page["results"]:
                # A job created while paging shifts the pages after it by one:
                # its neighbour would come twice. Each job is listed once.
                if record["iid"] not in seen:
                    seen.add(record["iid"])
                    yield record
            offset += len(page["results"])
            if len(page["results"]) < size or offset >= page["total"]:
                return

    def experiments(self, sort: str = "created", order: str | None = None,
                    status: str | None = None, task: str | None = None, q: str | None = None,
                    limit: int | None = None, tag: str | Sequence[str] | None = None,
                    search: str | None = None):
        """The jobs as a pandas DataFrame, one row per job in the server's order
        (the dashboard's table order for the same sort and filters): iid, task,
        status, each hyperparameter, each metric's last value and `best_<metric>`,
        then the record (epochs, runtime, times as UTC timestamps, error...).
        A hyperparameter named like a record field or a metric is
        `params.<name>` (but mnist's num_epochs, equal to the record's, is the
        one `num_epochs` column). Every matching job when `limit` is None or 0;
        `tag`: only runs with that tag (a list: every one); `search`: only that
        search's trials (a search id; the `search` and `trial` columns say which)."""
        return records_frame(self.records(sort, order, status, task, q, limit, tag, search))

    def history(self, iids: str | Iterable[str]):
        """Per-epoch metrics as a pandas DataFrame: one row per epoch of each
        job (iid, epoch, every metric, time_training)."""
        import pandas as pd

        wanted = [iids] if isinstance(iids, str) else list(iids)
        frames, columns = [], {"iid": None, "epoch": None}
        for iid in wanted:
            columns_of = epoch_columns(self.status(iid)["in_update"])
            rows = len(columns_of.get("epoch", []))
            frames.append({"iid": [iid] * rows, **columns_of})
            columns.update(dict.fromkeys(columns_of))
        if not frames:
            return pd.DataFrame(columns=list(columns))
        frame = pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True)
        frame = frame.reindex(columns=list(columns))
        frame["epoch"] = frame["epoch"].astype("int64")
        return frame

    # -- tracking a script ---------------------------------------------------------
    def start_run(self, task: str, hyper_params: Mapping[str, Any] | None = None,
                  metrics: Mapping[str, str] | None = None, num_epochs: int | None = None,
                  lease: float | None = None) -> "TrackedRun":
        """Start tracking a script's own training as a running job of `task`
        (any name: no declaration needed). `metrics` may give goals
        ({"loss": "min"}); others get one from their name. Use it as a context
        manager, or call `finish()` yourself. See `TrackedRun`."""
        body: dict[str, Any] = {"task": task, "hyper_params": _plain(hyper_params)}
        if metrics is not None:
            body["metrics"] = dict(metrics)
        if num_epochs is not None:
            body["num_epochs"] = num_epochs
        if lease is not None:
            body["lease"] = lease
        answer = self.request("POST", "/runs", json=body)
        return TrackedRun(self, answer["iid"], answer["token"], float(answer["lease"]),
                          int(answer.get("attempt", 1)))


class TrackedRun:
    """A script's training, tracked live as a running job.

    A background thread heartbeats every lease/3 seconds, so a script that
    dies silently (kill -9, machine off) is failed as lost once its lease runs
    out. Leaving a `with` block finishes the run as done; an exception finishes
    it as failed with the error's type and message, and goes on up.

    When mltrack stops taking the run (cancelled in the dashboard, failed as
    lost after a long pause, deleted), `should_stop()` turns True at the next
    heartbeat or log, and the next `log` raises `RunStopped`; a `with` block
    of this run swallows that RunStopped, so the script goes on after the block.
    """

    def __init__(self, client: Client, iid: str, token: str, lease: float, attempt: int = 1):
        self.client, self.iid, self.attempt, self.lease = client, iid, attempt, lease
        self._token = token
        self._stopped = threading.Event()   # mltrack no longer takes this run
        self._finished = threading.Event()  # ended by this script (or stopped)
        self.stop_reason: str | None = None
        self.status = "running"
        self._progress: dict[str, int] | None = None
        # The heartbeat thread has a session of its own: a Session is not
        # meant to be shared between threads.
        self._beat_session = client._new_session()
        self._thread = threading.Thread(target=self._beat, name=f"mltrack-heartbeat-{iid[:8]}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"TrackedRun({self.iid!r}, {self.status})"

    @property
    def url(self) -> str:
        """Where the run's record is (GET /status/<iid>)."""
        return f"{self.client.url}/status/{self.iid}"

    def should_stop(self) -> bool:
        """True once mltrack no longer takes this run (see the class)."""
        return self._stopped.is_set()

    def log(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record epoch `epoch` (1, 2, 3... in order) with its metrics (numbers:
        floats, ints, NumPy or 0-d tensor scalars)."""
        if self._stopped.is_set():
            raise RunStopped(f"run {self.iid} was stopped by mltrack: {self.stop_reason}",
                             409, None, self.url)
        if self._finished.is_set():
            raise ClientError(f"run {self.iid} is finished ({self.status}); it takes no more "
                              "epochs", None, None, self.url)
        body = {"token": self._token, "epoch": epoch,
                "metrics": {name: _number(name, value) for name, value in metrics.items()}}
        self._send("log", body)

    def progress(self, done: int, total: int) -> None:
        """Where the current epoch is (batches done of total), sent with the
        next heartbeat: the dashboard's progress bar."""
        self._progress = {"done": int(done), "total": int(total)}

    def finish(self, status: str = "done", error: str | None = None) -> None:
        """End the run as done (or failed, with `error`). Once only; a run that
        mltrack already stopped is left as mltrack says (`status`: "cancelled",
        "lost", "failed", "deleted"; `stop_reason`: the server's message)."""
        if self._finished.is_set():
            return
        self._finished.set()
        self._thread.join(self.client.timeout + 1)
        self._beat_session.close()
        if self._stopped.is_set():
            return
        body: dict[str, Any] = {"token": self._token, "status": status}
        if error is not None:
            body["error"] = error
        try:
            self._send("finish", body)
        except RunStopped:
            return
        self.status = status

    def __enter__(self) -> "TrackedRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.finish("done")
            return False
        if isinstance(exc, RunStopped) and self._stopped.is_set():
            self.finish()  # stops the heartbeat; mltrack already ended the run
            return True
        message = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        try:
            self.finish("failed", error=message)
        except ClientError as finish_error:  # the script's own error matters more
            log.warning("run %s: could not record its failure: %s", self.iid, finish_error)
        return False

    def _send(self, what: str, body: dict[str, Any], session: requests.Session | None = None,
              resend: Sequence[float] = RESEND_DELAYS) -> Any:
        """POST to the run's route. An answer that never came is sent again
        after each of `resend`'s delays: a log or finish that the server got
        twice records once (the same epoch with the same metrics, the same
        status), so a network blip does not end the script's training."""
        for delay in (*resend, None):
            try:
                return self.client.request("POST", f"/runs/{self.iid}/{what}", json=body,
                                           session=session)
            except ClientError as exc:
                if exc.status in (404, 409, 410):
                    self._stop(exc, session)
                    raise RunStopped(f"run {self.iid} was stopped by mltrack: {exc.message}",
                                     exc.status, exc.field, exc.url) from None
                if exc.status is not None or delay is None:
                    raise
                log.warning("run %s: %s got no answer (%s); sending it again", self.iid, what,
                            exc.message)
                time.sleep(delay)

    def _stop(self, exc: ClientError, session: requests.Session | None = None) -> None:
        if not self._stopped.is_set():
            self.stop_reason = exc.message  # the server's words, as they are
            self.status = self._stopped_as(exc, session)
            self._stopped.set()
            log.warning("mltrack stopped run %s (%s): %s", self.iid, self.status, exc.message)

    def _stopped_as(self, exc: ClientError, session: requests.Session | None) -> str:
        """What the run became: "cancelled", "lost" (failed because its lease
        ran out), "failed", "done" or "deleted", from the answer's
        `current_status` (a 409's) and the run's record (its error says lost);
        "stopped" when neither tells."""
        if exc.status == 404:
            return "deleted"
        current, error = exc.body.get("current_status"), ""
        if current in (None, "failed"):
            try:  # the record tells what the answer leaves out
                record = self.client.request("GET", f"/status/{self.iid}", session=session)
                current, error = current or record.get("status"), record.get("error") or ""
            except ClientError as read:
                if read.status == 404:
                    return "deleted"
        if current == "failed":
            return "lost" if error.startswith("lost") else "failed"
        if isinstance(current, str) and current:
            return current
        text = exc.message.lower()
        return "cancelled" if "cancel" in text else "lost" if "lost" in text else "stopped"

    def _beat(self) -> None:
        interval = max(0.2, self.lease / 3)
        while not self._finished.wait(interval):
            body: dict[str, Any] = {"token": self._token}
            if self._progress is not None:
                body["progress"] = self._progress
            try:  # no resending: the next beat comes soon enough
                self._send("heartbeat", body, session=self._beat_session, resend=())
            except RunStopped:
                return
            except Exception as exc:  # unreachable for a moment: the next beat may pass
                log.warning("run %s: heartbeat failed: %s", self.iid, exc)


# -- helpers ---------------------------------------------------------------------
def _query(tag: str | Sequence[str] | None = None, **params: Any) -> dict[str, Any]:
    """Query parameters as the listing routes take them: those given, and `tag`
    once per tag (a list: runs with every one)."""
    params["tag"] = [tag] if isinstance(tag, str) else list(tag or []) or None
    return {k: v for k, v in params.items() if v not in (None, "")}


def _limit(limit: Any) -> int | None:
    """None for every row: `limit` None or 0, as the CLI's `--limit 0`."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        limit = getattr(limit, "item", lambda: limit)()  # a NumPy integer
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ClientError(f"limit: must be a whole number >= 0 (0 or None: every row), "
                          f"got {limit!r}", field="limit")
    return limit or None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "No route to host",
                  "timed out", "Temporary failure in name resolution"):
        if known in text:
            return known.lower()
    return text[:200]


def _number(name: str, value: Any) -> int | float:
    """A metric as a JSON number; NumPy and 0-d tensor scalars are converted.
    NaN and infinity have no JSON form: refused here, naming the metric."""
    if isinstance(value, bool):
        raise ClientError(f"{name}: must be a number, got a boolean", field=name)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ClientError(f"{name}: must be a number, got {type(value).__name__}",
                          field=name) from None
    if not math.isfinite(number):
        raise ClientError(f"{name}: must be a finite number, got {number}", field=name)
    return number


def _scalar(value: Any) -> Any:
    """NumPy and 0-d tensor scalars as the Python numbers JSON writes."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _values(name: str, values: Any) -> list[Any]:
    """A sweep's list of values for `name`. A lone value (a number, a string:
    iterable, but sweeping its letters is never meant) is refused naming it."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise ClientError(f"{name}: a sweep takes a list of values, got {values!r}; put a "
                          f"single value in base instead", field=name)
    return [_scalar(v) for v in values]


def _plain(params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {name: _scalar(value) for name, value in (params or {}).items()}


def _work(records: Iterable[Mapping[str, Any]]) -> int:
    """The epochs a wait's bar counts: each job's num_epochs (1 when unknown)."""
    return sum(max(1, r.get("num_epochs") or 1) for r in records)


def _done(records: Iterable[Mapping[str, Any]]) -> float:
    total = 0.0
    for r in records:
        epochs = max(1, r.get("num_epochs") or 1)
        if r["status"] in TERMINAL:
            total += epochs
            continue
        done = min(epochs, r.get("epochs_done") or 0)
        progress = r.get("progress") or {}
        batches, batch = progress.get("batches"), progress.get("batch")
        if batches and batch is not None and done < epochs:
            done += min(1.0, batch / batches)
        total += done
    return total


def _tally(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def epoch_columns(columns: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """A status's `in_update` columns in reading order: epoch, the metrics,
    time_training (the server's JSON has its keys sorted)."""
    order = ["epoch", *(k for k in columns if k not in ("epoch", "time_training")),
             "time_training"]
    return {k: columns[k] for k in order if k in columns}


def metric_names(record: Mapping[str, Any]) -> list[str]:
    """The metric keys of a listing's record (last values and best_...)."""
    return [k for k in record if k not in RECORD_FIELDS]


def records_frame(records: Sequence[Mapping[str, Any]]):
    """Listing records -> DataFrame: iid, task, status, hyperparameters, metrics,
    then the rest of the record; times as UTC timestamps. A hyperparameter whose
    name is another column's (another task's metric) is `params.<name>`."""
    import pandas as pd

    head = ["iid", "task", "status"]
    tail = ["epochs_done", "num_epochs", "runtime", "created", "started", "finished",
            "attempts", "error", "device", "precision", "worker", "retry_of",
            "search", "trial",  # search: the search a job is a trial of, its number
            "tags", "note",  # runmeta: a list of tags (lower case), the note or None
            "cancel_requested", "tracked"]
    found = dict.fromkeys(m for r in records for m in metric_names(r))
    # each metric's last value, then its best
    metrics = dict.fromkeys(n for m in found if not m.startswith("best_")
                            for n in (m, f"best_{m}") if n in found)
    metrics.update(found)
    names = dict.fromkeys(n for r in records for n in r.get("hyper_params") or {})
    # The record's columns always keep their names and meaning (num_epochs: the
    # job's epoch count, for every task). A hyperparameter that is the record's
    # field in every row that has it (mnist's num_epochs, which sets the epoch
    # count) adds no column; any other hyperparameter named like a record field
    # or a metric is `params.<name>`.
    folded = {k for k in tail if k in names and all(
        (r.get("hyper_params") or {})[k] == r.get(k) for r in records
        if k in (r.get("hyper_params") or {}))}
    taken = set(head) | set(tail) | set(metrics)
    params = {name: f"params.{name}" if name in taken else name for name in names
              if name not in folded}
    rows = []
    for r in records:
        row = {k: r.get(k) for k in head}
        hyper = r.get("hyper_params") or {}
        row.update({column: hyper.get(name) for name, column in params.items()})
        row.update({m: r.get(m) for m in metrics})
        row.update({k: r.get(k) for k in tail})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*head, *params.values(), *metrics, *tail])
    for column in _TIMES:
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame
