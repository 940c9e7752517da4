"""The search driver: asks Optuna for trials, queues them as jobs, tells Optuna
how each ended. Every `python -m mltrack` and `python -m mltrack worker` runs
one (a thread); a search is driven by one of them at a time, the one that
holds its lock (a Redis key with a few seconds' expiry, renewed every tick),
so when that process dies another takes over within the expiry.

Exactly `trials` trials run, never more, whatever crashes. The rule:

* A trial *runs* when it is **reserved**: lua/study_reserve.lua records
  trial number -> iid in `search:<id>:trials`, atomically refusing beyond
  `trials` (and for a driver whose lock expired, and for a search no longer
  running). The reservations are what is counted, never Optuna's trials.
* The job of trial n has the iid `trial_iid(id, n)`, so creating it twice
  creates it once.
* A driver steps in this order: ask (Optuna journal) -> reserve -> create the
  job -> link it (`search`, `trial` on the job). A kill -9 may stop it
  anywhere; the next driver (this process restarted, or another) first
  reconciles every trial that Optuna still has RUNNING:
  - reserved, job there: its job's end is told (COMPLETE with the objective's
    last value; PRUNED; FAIL for failed, cancelled or a job without the
    objective); a missing link is written;
  - reserved, no job: the job is created from the trial's own parameters
    (the asked trial is reused), unless the job was deleted (told FAIL) or
    the search no longer runs (told FAIL);
  - not reserved (killed between ask and reserve): reserved now and its job
    created (reused), if the search still has room and runs; otherwise told
    FAIL and never counted (an Optuna trial without a job; Optuna then has
    more trials than the search, all extra ones FAIL with the user attribute
    `mltrack` saying why).
  Only then are new trials asked, while fewer than `parallel` trial jobs are
  waiting or running and fewer than `trials` are reserved.
* A retried trial job (POST /experiments/<iid>/retry) is an ordinary new job:
  not a trial, not in the search, nothing told to Optuna again (the trial was
  told FAIL when its job failed or was cancelled).

A search ends `done` when every trial is reserved and told; `cancelled` by
the user (no new trials, its waiting and running trials cancelled; the driver
still tells Optuna how they ended).
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
from typing import Any

import redis

from mltrack import optuna_import
from mltrack.store import IllegalTransition, JobNotFound, Store
from mltrack.store.searches import CANCELLED, DONE, RUNNING, SearchNotFound, SearchStore, trial_iid

log = logging.getLogger(__name__)

LOCK_SECONDS = 5.0  # a dead driver's searches are taken over after this
TICK = 0.5  # seconds between looks at the active searches (about 1 ms each when idle)
_ENDED = {"done", "failed", "cancelled", "pruned"}


class SearchDriver:
    """Drives every active search it can lock; `tick()` is one pass, `run()` loops."""

    def __init__(self, store: Store, stop_event: threading.Event | None = None, *,
                 tick: float = TICK, lock_seconds: float = LOCK_SECONDS):
        self.store = store
        self.searches = SearchStore(store)
        self.stop_event = stop_event or threading.Event()
        self.tick_seconds = tick
        self.lock_seconds = lock_seconds
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._studies: dict[str, Any] = {}
        self._grids: dict[str, Any] = {}  # search id -> its GridSampler (built once)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        failing = False
        while not self.stop_event.is_set():
            try:
                self.tick()
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    log.warning("search driver: %s; trying again", exc)
                failing = True
            except Exception:  # a bug must not end the driver: log, go on
                log.exception("search driver: unexpected error")
            self.stop_event.wait(self.tick_seconds)
        for search_id in list(self._studies):
            try:
                self.searches.unlock(search_id, self.token)
            except redis.RedisError:
                pass

    def tick(self) -> None:
        """One look at every active search: drive those whose lock this driver holds."""
        for search_id in self.searches.active_ids():
            if self.stop_event.is_set():
                return
            if not self.searches.lock(search_id, self.token, self.lock_seconds):
                self._studies.pop(search_id, None)  # another driver has it
                self._grids.pop(search_id, None)
                continue
            try:
                self.step(search_id)
            except Exception:  # one broken search must not stop the others
                log.exception("search %s: driver step failed", search_id)

    # -- one search ------------------------------------------------------------------
    def _study(self, search_id: str, spec: dict[str, Any]):
        from mltrack.search.study import open_study

        if search_id not in self._studies:
            self._studies[search_id] = open_study(self.store, search_id, spec, create=True)
        return self._studies[search_id]

    def step(self, search_id: str) -> None:
        """Reconcile the search's trials, tell those that ended, ask new ones."""
        optuna_import.load()
        from optuna.trial import TrialState

        from mltrack.search.spec import sampled_names

        try:
            record = self.searches.get(search_id)
        except SearchNotFound:
            self.searches.deactivate(search_id)
            return
        spec, running = record["spec"], record["status"] == RUNNING
        schema = self.store.schemas().get(spec["task"])
        study = self._study(search_id, spec)
        reserved = self.searches.trials(search_id)
        open_trials = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
        iids = [reserved[t.number] for t in open_trials if t.number in reserved]
        states = self.searches.job_states(iids, spec["objective"]["metric"])
        deleted = self.searches.deleted(i for i in iids if i not in states)
        active = 0
        for trial in open_trials:
            iid = reserved.get(trial.number)
            if iid is None:  # asked, never reserved: reuse it if there is room
                if not running or schema is None or set(trial.params) != sampled_names(
                        schema, spec, trial.params):
                    self._tell(study, trial.number, TrialState.FAIL, "asked, never queued")
                    continue
                outcome, _ = self.searches.reserve(search_id, trial.number, self.token,
                                                   spec["trials"])
                if outcome == "LOCK":
                    return
                if outcome != "OK":
                    self._tell(study, trial.number, TrialState.FAIL, f"not queued: {outcome}")
                    continue
                reserved[trial.number] = iid = trial_iid(search_id, trial.number)
            state = states.get(iid)
            if state is None:  # reserved, no job (yet, or any more)
                if iid in deleted or not running or schema is None:
                    self._note(search_id, spec, trial.number,
                               "deleted" if iid in deleted else "unqueued")
                    self._tell(study, trial.number, TrialState.FAIL,
                               "its job was deleted" if iid in deleted else "never queued")
                elif self._create_job(search_id, schema, spec, trial.number, trial.params):
                    active += 1
                else:
                    self._note(search_id, spec, trial.number, "unqueued")
                    self._tell(study, trial.number, TrialState.FAIL, "invalid hyperparameters")
                continue
            status, value, linked = state
            if not linked:
                self.searches.link(search_id, iid, trial.number)
            if status in _ENDED:
                # noted first: a crash between the two repeats both, changing nothing
                self._note(search_id, spec, trial.number, status, value)
                self._tell_job(study, trial.number, status, value)
            elif not running:
                self._cancel(iid)
            else:
                active += 1
        if running:
            active = self._ask(study, search_id, schema, spec, reserved, active)
        self._maybe_end(search_id, record, study, reserved)

    def _ask(self, study, search_id: str, schema, spec: dict[str, Any],
             reserved: dict[int, str], active: int) -> int:
        from mltrack.search.spec import applies, conditional
        from mltrack.search.study import distributions, suggest

        if schema is None:
            return active
        wanted = distributions(schema, spec["space"])
        later = conditional(schema, spec["space"])  # never on a grid (spec refuses it)
        first = {n: d for n, d in wanted.items() if n not in later}
        while active < spec["parallel"] and len(reserved) < spec["trials"]:
            study.sampler = self._sampler(search_id, spec, len(study.get_trials(deepcopy=False)))
            trial = study.ask(first)
            # define-by-run: a conditional hyperparameter only where it applies
            for name in later:
                if applies(schema, spec, name, trial.params):
                    suggest(trial, name, wanted[name])
            outcome, _ = self.searches.reserve(search_id, trial.number, self.token, spec["trials"])
            if outcome != "OK":
                # LOCK: the driver that took over reuses it (or tells it FAIL)
                if outcome != "LOCK":
                    self._tell(study, trial.number, "FAIL", f"not queued: {outcome}")
                break
            reserved[trial.number] = trial_iid(search_id, trial.number)
            if self._create_job(search_id, schema, spec, trial.number, trial.params):
                active += 1
            else:
                self._note(search_id, spec, trial.number, "unqueued")
                self._tell(study, trial.number, "FAIL", "invalid hyperparameters")
        return active

    def _note(self, search_id: str, spec: dict[str, Any], number: int, how: str,
              value: float | None = None) -> None:
        """How a reserved trial ended, for the record's counts (store/searches.py)."""
        if value is not None and not math.isfinite(value):
            value = None
        self.searches.told(search_id, number, how, value if how == "done" else None,
                           spec["objective"]["goal"])

    def _sampler(self, search_id: str, spec: dict[str, Any], number: int):
        from mltrack.search.study import sampler

        if spec["sampler"] != "grid":
            return sampler(spec, number, search_id)
        if search_id not in self._grids:  # the same shuffle for every trial (study.sampler)
            self._grids[search_id] = sampler(spec, number, search_id)
        return self._grids[search_id]

    def _create_job(self, search_id: str, schema, spec: dict[str, Any], number: int,
                    sampled: dict[str, Any]) -> bool:
        """Queue trial `number`'s job (the same iid whoever does it) and link it;
        False when its hyperparameters do not pass the task's schema."""
        from mltrack.search.spec import trial_params
        from mltrack.task import InvalidParams

        try:
            params = trial_params(schema, spec, sampled)
        except InvalidParams as exc:
            log.warning("search %s: trial %d is not a valid job (%s)", search_id, number, exc)
            return False
        iid = trial_iid(search_id, number)
        self.store.create_many([params], iids=[iid], schema=schema)
        self.searches.link(search_id, iid, number)
        # cancelled meanwhile (the cancel did not see this job yet): cancel it too
        if self.searches.get(search_id)["status"] != RUNNING:
            self._cancel(iid)
        return True

    def _cancel(self, iid: str) -> None:
        try:
            self.store.cancel(iid)
        except (IllegalTransition, JobNotFound):
            pass

    def _tell_job(self, study, number: int, status: str, value: float | None) -> None:
        if status == "done" and value is not None:
            self._tell(study, number, "COMPLETE", value=value)
        elif status == "pruned":
            self._tell(study, number, "PRUNED")
        else:
            self._tell(study, number, "FAIL", f"its job ended {status}"
                       + (" without the objective" if status == "done" else ""))

    @staticmethod
    def _tell(study, number: int, state, why: str = "", value: float | None = None) -> None:
        import optuna
        from optuna.trial import TrialState

        state = TrialState[state] if isinstance(state, str) else state
        if why:
            trial_id = study._storage.get_trial_id_from_study_id_trial_number(
                study._study_id, number)
            study._storage.set_trial_user_attr(trial_id, "mltrack", why)
        # A plain sampler tells: the grid sampler's after_trial would call
        # study.stop(), which only works inside study.optimize.
        study.sampler = optuna.samplers.RandomSampler()
        if state == TrialState.COMPLETE:
            study.tell(number, value, skip_if_finished=True)
        else:
            study.tell(number, state=state, skip_if_finished=True)

    def _maybe_end(self, search_id: str, record: dict[str, Any], study,
                   reserved: dict[int, str]) -> None:
        from optuna.trial import TrialState

        if any(t.state == TrialState.RUNNING for t in study.get_trials(deepcopy=False)):
            return
        spec = record["spec"]
        if record["status"] == RUNNING:
            if len(reserved) < spec["trials"]:
                return
            self.searches.set_status(search_id, DONE)
            log.info("search %s done: %d trials", search_id, len(reserved))
        elif record["status"] not in (CANCELLED, DONE):
            return
        self.searches.deactivate(search_id)
        self.searches.unlock(search_id, self.token)
        self._studies.pop(search_id, None)
        self._grids.pop(search_id, None)


def start_driver(store: Store, stop_event: threading.Event) -> threading.Thread:
    """The driver as a daemon thread (serve.py starts one in every mltrack process)."""
    thread = threading.Thread(target=SearchDriver(store, stop_event).run, daemon=True,
                              name="search-driver")
    thread.start()
    return thread


__all__ = ["LOCK_SECONDS", "SearchDriver", "start_driver"]
