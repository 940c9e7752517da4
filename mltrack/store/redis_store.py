"""The job store on Redis: jobs, their queue, metrics and indexes.

Layout under one key prefix (default ``mltrack:``; see keys.py and lua/helpers.lua)::

    job:<iid>                 hash: the job record and its summary metrics
    job:<iid>:epochs          list: one JSON object per finished epoch, appended
    job:<iid>:checkpoint      string: the checkpoint of the last recorded epoch
    queue:requests            list: iids waiting to be claimed (head = next)
    leases                    sorted set: running iids by when their lease ends
    idx:<scope>:<key>         sorted sets for listing; scope = all or a status,
                              key = a sort key (see sorting.py) or ``pending``
    text:vocab, text:tok:<t>  the text index (see text.py)
    claimed:<worker>          the job a worker claimed last (a resent claim gets it again)
    deleted:<iid>             a day's tombstone (a resent delete answers OK)
    workers, worker:<id>      live workers and what each runs
    tasks                     hash: task name -> its schema (JSON); a tracked task's
                              carries "tracked": true and grows with its runs

A tracked run (a script outside the queue, POST /runs) is a job hash with
`tracked` 1, the SHA-256 of its token and its `lease`: created running, never
queued; the reaper fails it at once when its lease runs out (no requeue), and
a cancel ends it at once (its script learns it from its next write).

Every state change is one Lua script, so it is atomic: a cancel racing a claim
sees either a waiting job or a running one, never half of each. Every script
that writes checks everything before its first write (Redis does not roll a
script back), and every one is safe to send twice: redis-py resends a command
after a lost connection, even when the server already ran it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from mltrack.params import MNIST
from mltrack.store import annotations
from mltrack.store.keys import Keys
from mltrack.store.model import (EPOCH_FIELDS, Claim, EpochOutOfOrder, IllegalTransition,
                                  InvalidValue, Job, JobDeleted, JobNotFound, NotTracked, Page,
                                  StaleAttempt, Status, TaskInUse, TaskNotFound, WrongToken)
from mltrack.store.scripts import load_scripts
from mltrack.store.sorting import (BUILTIN_SORTS, LATE_KEYS, SortKey, index_scores, late_indexes,
                                   param_score, sort_keys, status_order)
from mltrack.store.text import Filter, InvalidFilter, Query, Range, Search, text_tokens
from mltrack.task import NAME, InvalidParams, Schema, goal_from_name

DEFAULT_PREFIX = "mltrack:"
DEFAULT_LEASE = 30.0  # seconds a claim lasts unless its worker's heartbeat renews it
DEFAULT_MAX_LOST = 3  # a job whose worker was lost this often is failed
_COUNT_SCOPES = [s.value for s in Status] + ["all"]
SCHEMAS_FRESH = 2.0  # seconds a store trusts its copy of the task registry


def _when(now: float | None) -> str:
    """A time for a script: '' lets the server's clock decide (one clock for all)."""
    return "" if now is None else repr(_finite("now", now))


def _finite(field: str, value: Any) -> float:
    """`value` as a finite float, or InvalidValue naming `field` (before anything is written)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue(field, f"must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidValue(field, f"must be a finite number, got {number}")
    return number


def _positive(field: str, value: Any) -> float:
    number = _finite(field, value)
    if number <= 0:
        raise InvalidValue(field, f"must be above 0, got {number:g}")
    return number


def _token_hash(token: str) -> str:
    """What is stored of a tracked run's token: its SHA-256 (the token itself never is)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _counts(sizes: Sequence[int]) -> dict[str, int]:
    counts = dict(zip(_COUNT_SCOPES, sizes))
    counts["total"] = counts.pop("all")
    return counts


def _job(flat: list[Any]) -> Job:
    return Job.from_hash(dict(zip(flat[::2], flat[1::2])))


class Store:
    """Jobs, their queue, metrics and indexes, on one Redis database."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX):
        self.keys = Keys(prefix)
        self.redis = client
        self.prefix = prefix
        self._scripts = load_scripts(client)
        self._search = Search(client, self.keys, self._scripts)
        self._schemas: dict[str, Schema] = {}
        self._tracked_tasks: frozenset[str] = frozenset()
        self._schemas_read = -math.inf
        # runmeta: called with each deleted iid (model_files removes the job's file)
        self.on_delete: list[Callable[[str], None]] = []
        # called with the iids just queued by this process (wakes its idle workers)
        self.on_queued: list[Callable[[list[str]], None]] = []
        # Checkpoints are bytes: read them through a client that does not decode.
        pool = client.connection_pool
        self._raw = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "decode_responses": False}))

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX, **kwargs: Any) -> "Store":
        """A store on the server at `url` (redis://, rediss:// or unix://)."""
        options: dict[str, Any] = {
            # A short retry rides out a blip; a server that is down is reported
            # quickly (the API answers 503) instead of hanging requests. The
            # scripts are safe to resend, so a retry after a lost reply is too.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
            "health_check_interval": 30,
        }
        options.update(kwargs)
        return cls(redis.Redis.from_url(url, decode_responses=True, **options), prefix)

    def _run(self, name: str, *args: Any, client: Any = None) -> Any:
        return self._scripts[name](args=[self.prefix, *args], client=client)

    # -- writes --------------------------------------------------------------
    def create(self, params: Mapping[str, Any] | Any, now: float | None = None, *,
               schema: Schema = MNIST) -> str:
        """Record a new waiting job and queue it, in one step; returns its iid."""
        return self.create_many([params], now, schema=schema)[0]

    def create_many(self, params: Sequence[Mapping[str, Any] | Any], now: float | None = None,
                    retry_of: str | None = None, iids: Sequence[str] | None = None, *,
                    schema: Schema = MNIST, client: Any = None) -> list[str]:
        """Record and queue jobs of one task atomically (a sweep goes in whole or
        not at all). `params` are checked hyperparameters (dicts, or objects with
        to_dict()); they are checked against `schema` once more here.

        The iids are made here unless given; calling again with the same iids
        (after a lost reply, say) changes nothing.
        """
        iids = list(iids) if iids is not None else [uuid.uuid4().hex for _ in params]
        if len(iids) != len(params):
            raise ValueError("one iid per job")
        goals = json.dumps(schema.goals, sort_keys=True)
        late = late_indexes(schema)
        args: list[Any] = [_when(now), retry_of or ""]
        for iid, raw in zip(iids, params):
            hp = schema.parse(raw.to_dict() if hasattr(raw, "to_dict") else raw)
            scores = index_scores(schema, hp)
            epochs = schema.num_epochs(hp)
            args += [iid, schema.name, json.dumps(hp, sort_keys=True),
                     "" if epochs is None else epochs,
                     text_tokens(iid, hp, schema.name), goals, len(scores)]
            args += [x for pair in scores for x in pair]
            args += [len(late), *late]
        if iids:  # `client`: a pipeline in a transaction (fingerprints.create_missing),
            self._run("create", *args, client=client)  # which calls queued() once it ran
            if client is None:
                self.queued(iids)
        return iids

    def queued(self, iids: list[str]) -> None:
        """Tell this process's hooks (its idle workers) that `iids` are queued."""
        for hook in list(self.on_queued):  # a stopped hook removes itself as it is called
            hook(iids)

    def claim(self, worker: str, lease: float = DEFAULT_LEASE, now: float | None = None, *,
              tasks: Mapping[str, Schema] | None = None) -> Claim | None:
        """Take the next waiting job of `tasks` (by default the built-in MNIST)
        and mark it running under a lease of `lease` seconds (renewed by
        heartbeat), or None if their queues are empty.

        A job whose stored hyperparameters no longer pass its task's schema (a
        task file changed, say) is failed with the reason, and the next one taken.
        """
        lease = _positive("lease", lease)
        tasks = tasks if tasks is not None else {MNIST.name: MNIST}
        if not tasks:
            return None
        while True:
            got = self._run("claim", _when(now), worker, lease, *tasks)
            if not got:
                return None
            iid, attempt, hyper_params, task = got
            try:
                params = tasks[task].parse(json.loads(hyper_params))
            except (InvalidParams, TypeError, ValueError) as exc:
                self.finish(iid, int(attempt), Status.FAILED, now=now,
                            error=f"its stored hyperparameters are not valid for task "
                                  f"{task} any more: {exc}")
                continue
            return Claim(iid, int(attempt), task, params)

    def cancel(self, iid: str, now: float | None = None) -> Status:
        """Cancel a waiting job now, or ask a running one to stop; returns its status."""
        result = self._run("cancel", iid, _when(now))
        self._check(result, iid, Status.CANCELLED)
        return Status(result[1])

    def finish(self, iid: str, attempt: int, status: Status, *, error: str | None = None,
               traceback: str | None = None, now: float | None = None) -> None:
        """End a running job as done, failed or cancelled (fenced by attempt)."""
        status = Status(status)
        if not status.terminal:
            raise ValueError(f"finish() takes a terminal status, not {status.value}")
        fields: list[Any] = []
        if error is not None:
            fields += ["error", error]
        if traceback is not None:
            fields += ["traceback", traceback]
        self._change(iid, (Status.RUNNING,), status, attempt, fields, now)

    def requeue(self, iid: str, attempt: int) -> None:
        """Put a running job back at the front of the queue; it resumes from its
        checkpoint. Not counted as a loss: the worker gave it back in order."""
        self._change(iid, (Status.RUNNING,), Status.WAITING, attempt, ["worker", ""])

    def set_run_info(self, iid: str, attempt: int, info: dict[str, Any]) -> None:
        """Record how a running job trains (`device`, `precision`), fenced by attempt."""
        fields: list[Any] = []
        for key in ("device", "precision"):
            if key in info:
                fields += [key, str(info[key])]
        self._change(iid, (Status.RUNNING,), Status.RUNNING, attempt, fields)

    def heartbeat(self, iid: str, attempt: int, lease: float = DEFAULT_LEASE, *,
                  progress: dict[str, Any] | None = None, now: float | None = None) -> bool:
        """Renew the lease of a running job (and store its progress); returns
        True when a user asked to cancel it. Raises StaleAttempt when another
        worker has taken the job over."""
        lease = _positive("lease", lease)
        try:
            line = json.dumps(progress, allow_nan=False) if progress else ""
        except ValueError as exc:
            raise InvalidValue("progress", str(exc)) from None
        result = self._run("heartbeat", iid, str(attempt), lease, _when(now), line)
        self._check(result, iid, Status.RUNNING, attempt)
        return result[1] == "1"

    def reap(self, max_lost: int = DEFAULT_MAX_LOST, now: float | None = None) -> dict[str, Status]:
        """Requeue (front) running jobs whose lease ran out; fail those lost
        `max_lost` times. Returns what happened to each."""
        out = self._run("reap", _when(now), int(max_lost))
        return {iid: Status(status) for iid, status in zip(out[::2], out[1::2])}

    def running_workers(self) -> dict[str, str]:
        """Each running job under a lease (queue jobs and tracked runs): the worker
        running it, as its record names it."""
        iids = self.redis.zrange(self.keys.leases, 0, -1)
        with self.redis.pipeline(transaction=False) as pipe:
            for iid in iids:
                pipe.hget(self.keys.job(iid), "worker")
            workers = pipe.execute()
        return {iid: worker or "" for iid, worker in zip(iids, workers)}

    def expire_leases(self, held_by: Mapping[str, str], now: float | None = None) -> list[str]:
        """End the lease of each job `held_by` names now, if that worker still runs
        it (a queue job, not a tracked run), so the next reap() requeues it."""
        if not held_by:
            return []
        pairs = [x for iid, worker in held_by.items() for x in (iid, worker)]
        return list(self._run("expire_leases", _when(now), *pairs))

    def checkpoint(self, iid: str) -> bytes | None:
        """The job's last saved checkpoint, if it has one."""
        return self._raw.get(self.keys.checkpoint(iid))

    def save_checkpoint(self, iid: str, attempt: int, checkpoint: bytes) -> None:
        """Keep a running job's checkpoint without recording an epoch (the one a
        worker held back, saved when it stops gracefully); fenced by attempt."""
        self._check(self._run("save_checkpoint", iid, str(attempt), checkpoint), iid,
                    Status.RUNNING, attempt)

    def record_epoch(self, iid: str, attempt: int, metrics: Mapping[str, Any],
                     checkpoint: bytes | None = None, *,
                     goals: Mapping[str, str] | None = None) -> None:
        """Append one finished epoch, its checkpoint and the job's summary, atomically.

        `metrics` holds `epoch` (1-based; the next one, so an epoch is recorded
        once even when a resumed worker repeats it), `time_training` (seconds)
        and the task's metrics, each a finite number named by the rule of
        task names (InvalidValue otherwise, with nothing written). A metric the
        job's task does not declare is minimised or maximised by `goals`, else
        by its name.
        """
        if "epoch" not in metrics or "time_training" not in metrics:
            raise InvalidValue("epoch", "an epoch record needs epoch and time_training")
        values = {k: _finite(str(k), v) for k, v in metrics.items()}
        epoch = int(values["epoch"])
        if epoch != values["epoch"] or epoch < 1:
            raise InvalidValue("epoch", f"must be a whole number from 1, got {metrics['epoch']}")
        values["epoch"] = epoch
        named = {k: v for k, v in values.items() if k not in ("epoch", "time_training")}
        for name in named:
            if not NAME.fullmatch(name):
                raise InvalidValue(name, f"a metric name must match {NAME.pattern}")
        goals = goals or {}
        args: list[Any] = [iid, str(attempt), epoch, json.dumps(values),
                           repr(values["time_training"]), checkpoint or ""]
        for name, value in named.items():
            goal = goals.get(name) or goal_from_name(name)
            if goal not in ("min", "max"):
                raise InvalidValue(name, f"goal must be min or max, not {goal!r}")
            args += [name, repr(value), goal]
        result = self._run("record_epoch", *args)
        if result[0] == "ORDER":
            raise EpochOutOfOrder(iid, epoch, int(result[1]))
        self._check(result, iid, Status.RUNNING, attempt)

    def retry(self, iid: str) -> str:
        """Queue a new job with the task and hyperparameters of a failed or cancelled one."""
        job = self.get(iid)
        if job.status not in (Status.FAILED, Status.CANCELLED):
            raise IllegalTransition(iid, job.status.value, "retried")
        if job.tracked:  # no worker could run it: its script runs it again
            raise IllegalTransition(iid, job.status.value,
                                    "retried: a tracked run is run again by its script")
        schema = self.schemas().get(job.task) or (MNIST if job.task == MNIST.name else None)
        if schema is None:
            raise IllegalTransition(iid, job.status.value,
                                    f"retried: no worker has registered task {job.task}")
        new = self.create_many([job.hyper_params], retry_of=iid, schema=schema)[0]
        # The run's tags say what it is for, so they follow it; its note is about
        # that attempt and stays with it.
        annotations.carry_tags(self, new, job.tags)
        return new

    def delete(self, iid: str) -> None:
        """Remove a finished job with its epochs; waiting and running jobs refuse."""
        self._check(self._run("delete", iid), iid, "deleted")
        for hook in self.on_delete:  # runmeta: what lives outside Redis (a model file)
            hook(iid)

    # -- tracked runs: scripts outside the queue -------------------------------
    def update_task_entry(self, name: str,
                          change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
                          ) -> None:
        """Let `change` turn task `name`'s registry entry (None: none) into a
        new one (None: leave it), and write that only if nobody wrote the entry
        meanwhile; otherwise read it again and ask `change` again (compare and set)."""
        for _ in range(100):
            before = self.redis.hget(self.keys.tasks, name)
            after = change(json.loads(before) if before else None)
            if after is None:
                return
            text = json.dumps(after, allow_nan=False)
            if self._run("register_tracked", name, before or "", text) == "OK":
                self._schemas_read = -math.inf
                return
        raise redis.ConnectionError(f"task {name}: its schema kept changing under 100 writes")

    def start_tracked(self, task: str, params: Mapping[str, Any], goals: Mapping[str, str], *,
                      lease: float, num_epochs: int | None = None, now: float | None = None,
                      iid: str | None = None, token: str | None = None) -> tuple[str, str]:
        """Record a run that a script outside the queue runs: running at once,
        never queued, under a lease of `lease` seconds that its heartbeats and
        logs renew. Returns (iid, token): the token is the secret that its
        writes must carry (only its hash is stored). `params` are checked
        (tracking.plan_run); `goals` are those of the task's metrics. The iid
        and token are made here unless given: the same start sent again
        changes nothing."""
        lease = _positive("lease", lease)
        iid = iid or uuid.uuid4().hex
        token = token or secrets.token_urlsafe(32)
        scores = [(f"p:{name}", repr(param_score(None, value))) for name, value in params.items()]
        late = [*LATE_KEYS, *(f"{kind}:{m}" for m in goals for kind in ("m", "b"))]
        self._run("track", _when(now), iid, task, json.dumps(dict(params), sort_keys=True),
                  "" if num_epochs is None else int(num_epochs),
                  text_tokens(iid, dict(params), task), json.dumps(dict(goals), sort_keys=True),
                  _token_hash(token), repr(lease), len(scores),
                  *(x for pair in scores for x in pair), len(late), *late)
        return iid, token

    def check_token(self, iid: str, token: str) -> Job:
        """The tracked run `iid` if `token` is its token: JobNotFound, NotTracked
        or WrongToken otherwise (a wrong token learns nothing more)."""
        h = self.redis.hgetall(self.keys.job(iid))
        if not h:  # deleted (cancelled or ended, then deleted): its script should stop
            raise JobDeleted(iid) if self.redis.exists(self.keys.tombstone(iid)) else \
                JobNotFound(iid)
        if h.get("tracked") != "1":
            raise NotTracked(iid)
        if not hmac.compare_digest(h.get("token", ""), _token_hash(token)):
            raise WrongToken(iid)
        return Job.from_hash(h)

    def heartbeat_tracked(self, iid: str, token: str, progress: Mapping[str, int] | None = None,
                          now: float | None = None) -> Job:
        """Renew a tracked run's lease (and show where its epoch is: `done` of
        `total`). IllegalTransition once it no longer runs (cancelled, lost):
        its script should stop."""
        job = self.check_token(iid, token)
        line = None
        if progress is not None:
            line = {"epoch": job.epochs_done + 1, "batch": int(progress["done"]),
                    "batches": int(progress["total"]), "eta_seconds": None, "at": time.time()}
        self.heartbeat(iid, job.attempts, job.lease or DEFAULT_LEASE, progress=line, now=now)
        return job

    def epoch_is_new(self, job: Job, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Whether a tracked run's `epoch` is one to record (above the last one;
        gaps allowed) rather than the last one sent again with the same metrics
        (a lost reply). Reads only, so a caller learns of a bad epoch before it
        writes anything: EpochOutOfOrder for any other epoch, IllegalTransition
        once the run no longer runs."""
        if job.status is not Status.RUNNING:
            raise IllegalTransition(job.iid, job.status.value, Status.RUNNING.value)
        if epoch > job.epochs_done:
            return True
        last = self.redis.lindex(self.keys.epochs(job.iid), -1)
        previous = json.loads(last) if last else {}
        if previous.get("epoch") == epoch and {
                k: v for k, v in previous.items() if k not in EPOCH_FIELDS} == dict(metrics):
            return False
        raise EpochOutOfOrder(job.iid, epoch, job.epochs_done + 1)

    def log_tracked(self, iid: str, token: str, epoch: int, metrics: Mapping[str, float],
                    goals: Mapping[str, str]) -> None:
        """Record one epoch of a tracked run (see epoch_is_new: a resend records
        nothing) and renew its lease."""
        job = self.check_token(iid, token)
        if self.epoch_is_new(job, epoch, metrics):
            seconds, micros = self.redis.time()
            runtime = max(0.0, seconds + micros / 1e6 - (job.started or job.created))
            self.record_epoch(iid, job.attempts, {"epoch": epoch,
                                                  "time_training": round(runtime, 3),
                                                  **metrics}, goals=goals)
        self.heartbeat(iid, job.attempts, job.lease or DEFAULT_LEASE)

    def finish_tracked(self, iid: str, token: str, status: Status, error: str | None = None,
                       now: float | None = None) -> None:
        """End a tracked run as done or failed (with its script's error).
        Sent again, it answers OK; a run that ended otherwise (cancelled, lost)
        is IllegalTransition."""
        job = self.check_token(iid, token)
        status = Status(status)
        if status not in (Status.DONE, Status.FAILED):
            raise ValueError("a tracked run finishes done or failed")
        self.finish(iid, job.attempts, status, error=error, now=now)

    def task_entry(self, name: str) -> dict[str, Any] | None:
        """Task `name`'s registry entry as stored (None: none)."""
        text = self.redis.hget(self.keys.tasks, name)
        return json.loads(text) if text else None

    def task_entries(self) -> dict[str, dict[str, Any]]:
        """Every task registry entry as stored (JSON objects), tracked tasks
        without a metric yet included (schemas() leaves those out)."""
        out = {}
        for name, text in self.redis.hgetall(self.keys.tasks).items():
            try:
                out[name] = json.loads(text)
            except ValueError:
                continue
        return out

    def delete_tracked_task(self, name: str) -> None:
        """Remove a tracked task whose jobs were all deleted (its name is free
        again). TaskNotFound for no such task; TaskInUse for one a worker
        declares (mnist included) or one with jobs left."""
        if name == MNIST.name:
            raise TaskInUse(name, "it is built in, run by workers")
        result = self._run("delete_task", name)
        self._schemas_read = -math.inf
        if result[0] == "NOTFOUND":
            raise TaskNotFound(name)
        if result[0] == "DECLARED":
            raise TaskInUse(name, "a worker declares it (it is not a tracked-only task)")
        if result[0] == "JOBS":
            left = int(result[1])
            raise TaskInUse(name, f"{left} run{'s' if left != 1 else ''} of it "
                                  f"{'are' if left != 1 else 'is'} left; delete "
                                  f"{'them' if left != 1 else 'it'} first")

    def tracked_tasks(self) -> frozenset[str]:
        """Tasks whose schema comes from tracked runs (no worker declared them)."""
        self.schemas()
        return self._tracked_tasks

    # -- tasks -----------------------------------------------------------------
    def register_task(self, schema: Schema) -> bool:
        """Record a task's schema, so that every mltrack on this Redis validates
        and lists its jobs; False if a different schema of that name was there."""
        # not sort_keys: the order of the parameters is the order of the form
        text = json.dumps(schema.to_dict(), allow_nan=False)
        before = self._run("register_task", schema.name, text)
        self._schemas_read = -math.inf
        # a worker's task takes over a name that scripts tracked into: no surprise
        return before in ("", text) or json.loads(before).get("tracked") is True

    def schemas(self) -> dict[str, Schema]:
        """Every registered task's schema (re-read every SCHEMAS_FRESH seconds)."""
        now = time.monotonic()
        if now - self._schemas_read > SCHEMAS_FRESH:
            found, tracked = {}, set()
            for name, text in self.redis.hgetall(self.keys.tasks).items():
                try:
                    data = json.loads(text)
                    if data.get("tracked") is True:
                        tracked.add(name)
                    # a tracked task without a metric yet is no Schema: not listed until then
                    found[name] = Schema.from_dict(data)
                except (ValueError, KeyError, TypeError, AttributeError):  # a newer mltrack's
                    continue
            found.setdefault(MNIST.name, MNIST)
            self._schemas, self._schemas_read = found, now
            self._tracked_tasks = frozenset(tracked)
        return self._schemas

    def sort_keys(self, task: str | None = None) -> dict[str, SortKey]:
        """The sort names a listing of `task` (or of all tasks) takes."""
        schemas = self.schemas()
        if task is not None:
            return sort_keys([schemas[task]] if task in schemas else [])
        return sort_keys(schemas.values())

    # -- workers ------------------------------------------------------------
    def register_worker(self, worker: str, info: dict[str, Any], ttl: float) -> None:
        """Say `worker` is alive for `ttl` seconds more, with what it runs."""
        self._run("register_worker", worker, _positive("ttl", ttl),
                  json.dumps(info, sort_keys=True, allow_nan=False))

    def unregister_worker(self, worker: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.keys.workers, worker)
        pipe.delete(self.keys.worker(worker))
        pipe.execute()

    def live_workers(self) -> list[dict[str, Any]]:
        """Workers whose registration has not expired, sorted by id; one round trip."""
        return [json.loads(info) for info in self._run("live_workers")]

    # -- reads ----------------------------------------------------------------
    def get(self, iid: str) -> Job:
        h = self.redis.hgetall(self.keys.job(iid))
        if not h:
            raise JobNotFound(iid)
        return Job.from_hash(h)

    def get_many(self, iids: Iterable[str]) -> list[Job]:
        """Jobs in the order asked, skipping unknown iids; one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.hgetall(self.keys.job(iid))
        return [Job.from_hash(h) for h in pipe.execute() if h]

    def epochs(self, iid: str) -> list[dict[str, float]]:
        return [json.loads(e) for e in self.redis.lrange(self.keys.epochs(iid), 0, -1)]

    def list_jobs(self, *, sort: str = "created", order: str | None = None,
                  status: Status | str | None = None, task: str | None = None,
                  limit: int = 100, offset: int = 0, text: str = "",
                  tags: Sequence[str] = (), search: str | None = None) -> Page:
        """One page of jobs sorted and filtered in Redis.

        `sort` is a name of sort_keys(task); a listing sorted by a metric or a
        hyperparameter holds the jobs of the tasks that have it, those without
        a value yet last. Without `text` the cost grows with the page, not the
        total. With it, only jobs matching every word count (see text.py); the
        cost grows with the number of matches at most. `tags`: only jobs
        with every one of them (as `tag:x` words in `text`; annotations.py).
        `search`: only the trials of that search (store/searches.py).
        """
        key = self.sort_keys(task).get(sort)
        if key is None:
            raise ValueError(f"sort must be one of {', '.join(self.sort_keys(task))}")
        order = order or key.default_order
        if order not in ("asc", "desc"):
            raise ValueError("order must be asc or desc")
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        statuses = [Status(status).value] if status else None
        try:
            query = Query.parse(text)
        except InvalidFilter as exc:
            raise InvalidValue("q", str(exc)) from None
        if tags:  # runmeta
            query = replace(query, tags=tuple(dict.fromkeys((*query.tags, *tags))))
        if search is not None:  # search: the set of its trials' iids
            query = replace(query, sets=(*query.sets, self.keys.search_jobs(search)))
        ranges = self._filter_ranges(query.filters, task)
        if query.statuses is not None:
            statuses = [s for s in query.statuses if statuses is None or s in statuses]
        segments = self._segments(key, order, statuses, task)
        if not query.words and not ranges and not query.tags and not query.sets:
            total, *hashes = self._run("list", offset, limit,
                                       *(x for k, desc in segments for x in (k, int(desc))))
            return Page([_job(h) for h in hashes if h], int(total))
        self._index_old_jobs()
        scopes = ([self._scope(s, task) for s in statuses] if statuses is not None
                  else [self._scope(None, task)])
        # a built-in sort lists every job of its scopes; others only those of the
        # tasks that have the key, counted in its own indexes
        everyone = sort in BUILTIN_SORTS
        total, iids = self._search.page(query, segments, scopes if everyone else None,
                                        offset, limit, ranges)
        return Page(self.get_many(iids), total)

    def _filter_ranges(self, filters: Sequence[Filter], task: str | None) -> list[Range]:
        """Each filter as a range of the index of its sort name; InvalidValue
        naming `q` for a name the listing cannot sort by."""
        if not filters:
            return []
        keys = self.sort_keys(task)
        ranges = []
        for found in filters:
            key = keys.get(found.name)
            if key is None or key.name == "status":
                names = ", ".join(k for k in keys if k != "status")
                raise InvalidValue("q", f"filter {found.text!r}: no column {found.name!r} to "
                                        f"compare (one of {names})")
            ranges.append((self.keys.index("all", key.index), *found.bounds()))
        return ranges

    def runs(self, iids: Sequence[str]) -> list[tuple[Job, list[dict[str, float]]]]:
        """Jobs with their epochs, in the order asked (unknown iids skipped); one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for iid in iids:
            pipe.hgetall(self.keys.job(iid))
            pipe.lrange(self.keys.epochs(iid), 0, -1)
        out = pipe.execute()
        return [(Job.from_hash(h), [json.loads(e) for e in epochs])
                for h, epochs in zip(out[::2], out[1::2]) if h]

    def overview(self, recent: int = 20) -> dict[str, Any]:
        """What the dashboard's header needs, in one round trip: counts per
        status, the running jobs (up to 100), the `recent` newest done jobs,
        the live workers and the number of waiting jobs per task."""
        pipe = self.redis.pipeline(transaction=False)
        self._queue_counts(pipe)
        for scope, limit in (("running", 100), ("done", recent)):
            self._run("list", 0, limit, self.keys.index(scope, "created"), 1, client=pipe)
        self._run("live_workers", client=pipe)
        tasks = sorted(self.schemas())
        for task in tasks:
            pipe.zcard(self.keys.index(f"t:{task}:waiting", "created"))
        out = pipe.execute()
        n = len(_COUNT_SCOPES)
        sizes, (running, done, workers), waiting = out[:n], out[n:n + 3], out[n + 3:]
        return {"counts": _counts(sizes), "running": [_job(h) for h in running[1:] if h],
                "recent_done": [_job(h) for h in done[1:] if h],
                "workers": [json.loads(w) for w in workers],
                "waiting_by_task": {t: w for t, w in zip(tasks, waiting) if w}}

    def counts(self) -> dict[str, int]:
        """Number of jobs per status, plus `total`."""
        pipe = self.redis.pipeline(transaction=False)
        self._queue_counts(pipe)
        return _counts(pipe.execute())

    def queue_length(self, task: str = MNIST.name) -> int:
        return self.redis.llen(self.keys.queue(task))

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def _scope(status: str | None, task: str | None) -> str:
        """The index scope of the jobs in `status` (None: any) of `task` (None: any)."""
        if task is None:
            return status or "all"
        return f"t:{task}:{status}" if status else f"t:{task}"

    def _segments(self, key: SortKey, order: str, statuses: list[str] | None,
                  task: str | None) -> list[tuple[str, bool]]:
        """The sorted sets a listing reads one after another, as (key, descending)."""
        if key.name == "status":
            return [(self.keys.index(self._scope(s, task), "created"), True)
                    for s in status_order(order) if statuses is None or s in statuses]
        scopes = [self._scope(s, task) for s in statuses] if statuses is not None else [
            self._scope(None, task)]
        out = [(self.keys.index(scope, key.index), order == "desc") for scope in scopes]
        if key.late:  # jobs without a value yet come last, newest first
            out += [(self.keys.index(scope, f"missing:{key.index}"), True) for scope in scopes]
        return out

    def _index_old_jobs(self) -> None:
        """Put jobs recorded before the text index existed into it, once."""
        if self.redis.exists(self.keys.text_indexed):
            return
        start, stretch = 0, 500
        while True:
            iids = self.redis.zrange(self.keys.index("all", "created"), start, start + stretch - 1)
            if not iids:
                break
            pipe = self.redis.pipeline(transaction=False)
            for iid in iids:
                pipe.hmget(self.keys.job(iid), "tokens", "hyper_params", "task")
            pairs = []
            for iid, (tokens, hyper_params, task) in zip(iids, pipe.execute()):
                if tokens is None and hyper_params is not None:
                    pairs += [iid, text_tokens(iid, json.loads(hyper_params), task or "mnist")]
            if pairs:
                self._run("index_text", *pairs)
            start += stretch
        self.redis.set(self.keys.text_indexed, "1")

    def _queue_counts(self, pipe: Any) -> None:
        """Queue one ZCARD per status and for all (read back with _counts)."""
        for scope in _COUNT_SCOPES:
            pipe.zcard(self.keys.index(scope, "created"))

    def _change(self, iid: str, allowed: Iterable[Status], to: Status,
                attempt: int | None, fields: list[Any], now: float | None = None) -> None:
        args = [iid, " ".join(s.value for s in allowed), to.value,
                "" if attempt is None else str(attempt), _when(now), *fields]
        self._check(self._run("transition", *args), iid, to, attempt)

    @staticmethod
    def _check(result: list[Any], iid: str, wanted: Any, attempt: int | None = None) -> None:
        code = result[0]
        if code == "OK":
            return
        if code == "NOTFOUND":
            raise JobNotFound(iid)
        if code == "STALE":
            raise StaleAttempt(iid, attempt if attempt is not None else -1)
        wanted = wanted.value if isinstance(wanted, Status) else str(wanted)
        raise IllegalTransition(iid, result[1], wanted)
