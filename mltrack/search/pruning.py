"""Pruning on the worker's side: each recorded epoch of a trial goes to the
search's Optuna study as the trial's intermediate value (step = epoch), and
the search's pruner says whether the trial should stop.

Any worker on the store's Redis can do this (the study is in that Redis), so
workers on other machines prune too. A failure to report never fails the job:
the trial then runs on, unpruned.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Mapping

from mltrack.store import Store
from mltrack.store.searches import SearchNotFound, SearchStore

log = logging.getLogger(__name__)

# One study per search and store in a process: opening one replays the search's
# journal (from its last snapshot), which its worker threads then share (Optuna's
# JournalStorage takes a lock around each read and write).
_studies: dict[tuple[int, str], Any] = {}
_studies_lock = threading.Lock()


def _study(store: Store, search_id: str, spec: Mapping[str, Any]):
    from mltrack.search.study import open_study

    key = (id(store), search_id)
    with _studies_lock:
        if key not in _studies:
            if len(_studies) > 32:  # searches come and go: keep the newest few
                _studies.pop(next(iter(_studies)))
            _studies[key] = open_study(store, search_id, spec)
        return _studies[key]


class TrialPruning:
    """Reports one trial's epochs to its study and asks its pruner."""

    def __init__(self, store: Store, search_id: str, number: int, spec: Mapping[str, Any]):
        self.study = _study(store, search_id, spec)
        self.storage = self.study._storage
        self.trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number)
        self.metric = spec["objective"]["metric"]
        self.search_id, self.number = search_id, number

    def report(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Record the objective at `epoch`; True when the trial should stop."""
        value = metrics.get(self.metric)
        if value is None:
            return False
        try:
            self.storage.set_trial_intermediate_value(self.trial_id, int(epoch), float(value))
            trial = self.storage.get_trial(self.trial_id)
            return bool(self.study.pruner.prune(self.study, trial))
        except Exception as exc:  # an ended trial, the database away: train on
            log.warning("search %s trial %d: no pruning at epoch %d (%s)", self.search_id,
                        self.number, epoch, exc)
            return False


def pruning_for(store: Store, iid: str) -> TrialPruning | None:
    """The pruning of job `iid` if it is a trial of a search with a pruner, else None."""
    searches = SearchStore(store)
    found = searches.job_search(iid)
    if found is None:
        return None
    search_id, number = found
    try:
        spec = searches.get(search_id)["spec"]
    except SearchNotFound:
        return None
    if not spec.get("pruner"):
        return None
    return TrialPruning(store, search_id, number, spec)
