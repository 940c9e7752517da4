"""A search as an Optuna study: its storage in the store's Redis, distributions,
sampler and pruner. Imports Optuna (only the driver and pruning workers load this).

The study of search `<id>` is named `<id>` and kept by Optuna's JournalStorage
with a JournalRedisBackend under the search's own key prefix
(`<prefix>search:<id>:optuna`), on the same Redis (the same connection
settings) as the store: every mltrack and worker on that Redis reads and
appends the same journal, and a restart replays it.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterator, Mapping

import redis

from mltrack import optuna_import

optuna_import.load()  # before any `import optuna...`: see optuna_import
import optuna  # noqa: E402
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalRedisBackend

from mltrack.store import Store
from mltrack.store.searches import SearchStore
from mltrack.task import Int, Schema

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)
READ_LOGS = 1000  # journal entries read per round trip


class _StoreBackend(JournalRedisBackend):
    """Optuna's Redis journal on the store's own connection settings (the
    store may reach Redis over a unix socket, with retries and timeouts):
    the same keys and Lua as JournalRedisBackend, the client made from the
    store's instead of from a URL. Two changes: logs are read a thousand per
    round trip (MGET) rather than one, and no snapshot is kept (Optuna's is
    a pickle, which mltrack never reads back from the database; a restart
    replays the JSON journal instead)."""

    def __init__(self, store: Store, prefix: str):
        pool = store.redis.connection_pool
        # the journal's snapshot is bytes: a client that does not decode
        self._redis = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class,
            **{**pool.connection_kwargs, "decode_responses": False}))
        self._url = ""
        self._use_cluster = False
        self._prefix = prefix

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        last = self._redis.get(f"{self._prefix}:log_number")
        if last is None:
            return
        last = int(last)
        for first in range(log_number_from, last + 1, READ_LOGS):
            numbers = range(first, min(first + READ_LOGS, last + 1))
            for number, line in zip(numbers, self._redis.mget(
                    [self._key_log_id(n) for n in numbers])):
                # appended by one Lua call (number and log together), so never
                # missing; were it (a cluster), wait for it as Optuna does
                while line is None:
                    time.sleep(0.1)
                    line = self._redis.get(self._key_log_id(number))
                yield json.loads(line)

    def save_snapshot(self, snapshot: bytes) -> None:
        return None

    def load_snapshot(self) -> bytes | None:
        return None


def storage(store: Store, search_id: str) -> JournalStorage:
    return JournalStorage(_StoreBackend(store, SearchStore(store).journal_prefix(search_id)))


def distributions(schema: Schema, space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Each searched hyperparameter as an Optuna distribution (a checked space)."""
    out: dict[str, BaseDistribution] = {}
    for name, given in space.items():
        if isinstance(given, list):
            out[name] = CategoricalDistribution(given)
        elif isinstance(schema.params[name], Int):
            out[name] = IntDistribution(int(given["low"]), int(given["high"]), log=given["log"])
        else:
            out[name] = FloatDistribution(float(given["low"]), float(given["high"]),
                                          log=given["log"])
    return out


def sampler(spec: Mapping[str, Any], number: int,
            search_id: str = "") -> optuna.samplers.BaseSampler:
    """The sampler that picks trial `number`. TPE and random are made for
    each trial: a seeded search draws the same trials after a restart (seed +
    trial number), and they keep no state of their own (the history is the
    study). The grid is one shuffle per search, never per trial: Optuna's
    GridSampler gives trial n the n-th point of its shuffled grid, so every
    trial (and every driver, after a restart) must see the same shuffle for
    the trials to visit distinct points. That shuffle is seeded by `seed`, or
    without one by the search id (each unseeded grid search its own order).
    The driver keeps the grid sampler of a search rather than rebuilding it."""
    kind = spec["sampler"]
    if kind == "grid":
        seed = spec.get("seed")
        if seed is None:
            seed = int(search_id[:8] or "0", 16) if all(
                c in "0123456789abcdef" for c in search_id[:8]) else 0
        return optuna.samplers.GridSampler(dict(spec["space"]), seed=seed)
    seed = None if spec.get("seed") is None else (spec["seed"] + number) % 2**31
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def suggest(trial: optuna.trial.Trial, name: str, dist: BaseDistribution) -> Any:
    """Define-by-run: trial's value of `name` from `dist` (a searched
    hyperparameter that applies to this trial only given its other values)."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def pruner(spec: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """Optuna's defaults: median after 5 finished trials; successive halving
    with rungs of a factor 4 from the first epoch."""
    kind = spec.get("pruner")
    if kind == "median":
        return optuna.pruners.MedianPruner()
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def direction(spec: Mapping[str, Any]) -> str:
    return "maximize" if spec["objective"]["goal"] == "max" else "minimize"


def open_study(store: Store, search_id: str, spec: Mapping[str, Any],
               create: bool = False) -> optuna.Study:
    """The search's study (created when `create`, else it must exist)."""
    kwargs = dict(study_name=search_id, storage=storage(store, search_id),
                  sampler=optuna.samplers.RandomSampler(), pruner=pruner(spec))
    if create:
        return optuna.create_study(direction=direction(spec), load_if_exists=True, **kwargs)
    return optuna.load_study(**kwargs)
