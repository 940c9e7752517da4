"""The experiments table's listing: the store's listing under the table's
filters (the text box and the metric conditions go to the store's query
language together), the rows a bulk action takes, and which ticked rows the
table still shows.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping

from mltrack import views
from mltrack.api import MAX_PAGE
from mltrack.store import InvalidValue, Job, Page, Status, Store
from mltrack.task import Schema

MAX_BULK = 100_000  # jobs one "all matching" action takes at most


def page(store: Store, where: views.TableFilter, sort: str, order: str, offset: int,
         limit: int) -> Page:
    """One page of the table (`sort` a name of store.sort_keys(where.task)); no
    rows for a filter the listing cannot apply (a column of another task)."""
    try:
        return store.list_jobs(sort=sort, order=order, status=where.status, task=where.task,
                               text=where.query(), offset=offset, limit=limit)
    except InvalidValue:
        return Page([], 0)


def every_match(store: Store, where: views.TableFilter) -> list[Job]:
    """Every job the table lists (what "all matching" acts on), newest first."""
    out: list[Job] = []
    while len(out) < MAX_BULK:
        got = page(store, where, "created", "desc", len(out), MAX_PAGE)
        out += got.jobs
        if len(got.jobs) < MAX_PAGE:
            break
    return out


def statuses_matching(store: Store, where: views.TableFilter) -> list[str]:
    """The statuses of the jobs the table lists (what "all matching" would act
    on): a count per status, no rows read."""
    statuses = [where.status] if where.status else [s.value for s in Status]
    return [s for s in statuses
            if page(store, replace(where, status=s), "created", "desc", 0, 0).total]


RETRYABLE_SCAN = 1000  # rows "any_retryable" reads at most before it assumes yes


def any_retryable(store: Store, where: views.TableFilter) -> bool:
    """Whether Retry on all matching would queue any job: a failed or cancelled
    one that is not tracked from a script (views.retryable). The first rows
    of each such status are read until one is found; past RETRYABLE_SCAN
    rows, yes (the confirmation then counts exactly what it will queue)."""
    read = 0
    for status in sorted(views.RETRYABLE):
        if where.status and where.status != status:
            continue
        offset, size = 0, 20  # usually the first row answers: read few, then more
        while read < RETRYABLE_SCAN:
            got = page(store, replace(where, status=status), "created", "desc", offset, size)
            if any(views.retryable(j) for j in got.jobs):
                return True
            read += len(got.jobs)
            offset += len(got.jobs)
            if len(got.jobs) < size:
                break
            size = min(size * 5, MAX_PAGE)
        if read >= RETRYABLE_SCAN:
            return True
    return False


def shown(store: Store, iids: Iterable[str], where: views.TableFilter, sort: str,
          order: str) -> list[Job]:
    """Of the ticked `iids`, the jobs the table lists now, in its order, as they
    are now: a deleted job or one a filter hides is no longer ticked."""
    schemas = store.schemas()
    keys = store.sort_keys(where.task)
    jobs = [j for j in store.get_many(dict.fromkeys(iids))
            if views.shows(j, where, sort, schemas)]
    return views.table_order(jobs, keys[sort], order, schemas) if sort in keys else jobs


def task_bests(store: Store, jobs: Iterable[Job], schemas: Mapping[str, Schema]
               ) -> dict[str, float]:
    """The best primary-metric value of the done runs of each task among `jobs`
    (a row is flagged when far behind it): one listing of one row per task."""
    out: dict[str, float] = {}
    for task in {job.task for job in jobs if job.task in schemas}:
        metric = schemas[task].primary
        try:
            top = store.list_jobs(sort=f"best_{metric.name}", task=task, status="done", limit=1)
        except ValueError:  # no such sort (yet)
            continue
        if top.jobs and metric.name in top.jobs[0].best:
            out[task] = top.jobs[0].best[metric.name]
    return out
