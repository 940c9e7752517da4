"""Searches: Optuna studies (ask and tell) whose trials are mltrack jobs.

`create_search(store, schemas, body)` checks a body and records the search;
the driver (`driver.py`, a thread in every mltrack process) asks Optuna for
trials and queues each as a job, then tells Optuna how it ended; a worker
reports each epoch of a trial to the search's pruner (`pruning.py`). The
study lives in the store's Redis (Optuna's JournalStorage), so a restart or
another mltrack on the same Redis goes on where it was. See driver.py for
the rule that runs exactly `trials` trials across crashes.

Importing this package loads no Optuna; the driver and pruning do.
"""
from __future__ import annotations

from mltrack.search.records import (SearchEnded, SearchNotFound, cancel_search, create_search,
                                    list_searches, search_record)
from mltrack.search.spec import MAX_TRIALS, PRUNERS, SAMPLERS, check_spec

__all__ = ["MAX_TRIALS", "PRUNERS", "SAMPLERS", "SearchEnded", "SearchNotFound",
           "cancel_search", "check_spec", "create_search", "list_searches", "search_record"]
