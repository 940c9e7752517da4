"""Store contract tests against the real embedded server."""
from __future__ import annotations

import itertools
import operator
import json
import random
import re
import threading

import pytest
import redis

from mltrack.params import HyperParams
from mltrack.store import text
from mltrack.task import Choice, Float, Int, Metric, Schema
from mltrack.params import MNIST
from mltrack.store import (STATUS_ORDER, TERMINAL, TRANSITIONS, EpochOutOfOrder, InvalidValue,
                           IllegalTransition, JobNotFound, StaleAttempt, Status, Store,
                           sort_keys, text_score)

HP = HyperParams(model="mlp", num_epochs=3)
SORTS = {name: key for name, key in sort_keys([MNIST]).items()}
LIST_SORTS = list(SORTS)


def epoch(n, acc=90.0, loss=0.3, t=1.0):
    return {"epoch": n, "train_loss": loss, "train_accuracy": acc - 1, "test_loss": loss + 0.1,
            "test_accuracy": acc, "time_training": t * n}


def make_job_in(store: Store, status: Status) -> str:
    """A job brought to `status` through the legal path."""
    iid = store.create(HP)
    if status is Status.WAITING:
        return iid
    if status is Status.CANCELLED:
        store.cancel(iid)
        return iid
    claim = store.claim("w1")
    assert claim.iid == iid
    if status is not Status.RUNNING:
        store.finish(iid, claim.attempt, status)
    return iid


def test_create_records_and_queues(store, redis_client):
    iid = store.create(HP, now=1000.0)
    job = store.get(iid)
    assert job.status is Status.WAITING and job.created == 1000.0
    assert job.hyper_params == HP.to_dict() and job.attempts == 0 and job.num_epochs == 3
    assert redis_client.lrange("test:queue:mnist", 0, -1) == [iid]
    # JSON, never pickle: the record reads back as plain text
    assert redis_client.hget(f"test:job:{iid}", "hyper_params").startswith("{")
    assert store.counts() == {"waiting": 1, "running": 0, "done": 0, "failed": 0,
                              "cancelled": 0, "pruned": 0, "total": 1}


def test_claim_is_fifo_and_counts_attempts(store):
    first, second = store.create(HP), store.create(HP)
    c1 = store.claim("w1", now=5.0)
    assert (c1.iid, c1.attempt, c1.task, c1.hyper_params) == (first, 1, "mnist", HP.to_dict())
    job = store.get(first)
    assert job.status is Status.RUNNING and job.started == 5.0 and job.worker == "w1"
    assert store.claim("w2").iid == second
    assert store.claim("w3") is None


def test_requeue_puts_the_job_at_the_front_and_the_next_claim_is_a_new_attempt(store):
    first, second = store.create(HP), store.create(HP)
    c1 = store.claim("w1", now=5.0)
    store.requeue(first, c1.attempt)
    assert store.get(first).status is Status.WAITING
    again = store.claim("w2", now=9.0)
    assert (again.iid, again.attempt) == (first, 2)
    assert store.get(first).started == 5.0  # the first start is kept
    with pytest.raises(StaleAttempt):
        store.finish(first, c1.attempt, Status.DONE)
    assert store.get(second).status is Status.WAITING


ALL_MOVES = [(a, b) for a in Status for b in Status if a is not b]


@pytest.mark.parametrize("start, target", ALL_MOVES, ids=[f"{a.value}->{b.value}"
                                                          for a, b in ALL_MOVES])
def test_every_transition_is_legal_or_raises(store, start, target):
    iid = make_job_in(store, start)
    attempt = store.get(iid).attempts
    legal = target in TRANSITIONS[start]

    def attempt_move():
        if target is Status.RUNNING:
            got = store.claim("w9")
            if got is None:
                raise IllegalTransition(iid, start.value, target.value)
        elif target is Status.WAITING:
            store.requeue(iid, attempt)
        elif target is Status.CANCELLED and start is Status.WAITING:
            store.cancel(iid)
        else:
            store.finish(iid, attempt, target)

    if legal:
        attempt_move()
        assert store.get(iid).status is target
    else:
        with pytest.raises(IllegalTransition):
            if target is Status.CANCELLED and start.terminal:
                store.cancel(iid)
            else:
                attempt_move()
        assert store.get(iid).status is start
    counts = store.counts()
    assert counts[store.get(iid).status.value] == 1 and counts["total"] == 1


def test_terminal_states_are_final(store):
    for status in (Status.DONE, Status.FAILED, Status.CANCELLED, Status.PRUNED):
        iid = make_job_in(store, status)
        before = store.get(iid)
        if status is Status.CANCELLED:
            assert store.cancel(iid) is Status.CANCELLED  # asked twice: the same answer
        else:
            with pytest.raises(IllegalTransition) as err:
                store.cancel(iid)
            assert err.value.current == status.value
        for other in TERMINAL - {status}:
            with pytest.raises(IllegalTransition):
                store.finish(iid, before.attempts, other)
        with pytest.raises(IllegalTransition):
            store.requeue(iid, before.attempts)
        assert store.get(iid) == before


def test_cancel_running_asks_the_worker(store):
    iid = make_job_in(store, Status.RUNNING)
    assert store.cancel(iid) is Status.RUNNING
    job = store.get(iid)
    assert job.status is Status.RUNNING and job.cancel_requested
    store.finish(iid, job.attempts, Status.CANCELLED)
    assert store.get(iid).status is Status.CANCELLED


def test_a_cancel_asked_while_running_holds_when_the_job_comes_back(store):
    iid = make_job_in(store, Status.RUNNING)
    store.cancel(iid)
    store.requeue(iid, 1)  # its worker stopped (or died) before it saw the cancel
    assert store.claim("w2") is None
    job = store.get(iid)
    assert job.status is Status.CANCELLED and job.finished
    assert store.counts()["cancelled"] == 1


def test_cancel_waiting_removes_it_from_the_queue(store):
    iid = store.create(HP)
    assert store.cancel(iid) is Status.CANCELLED
    assert store.queue_length() == 0 and store.claim("w") is None


def test_unknown_iid(store):
    with pytest.raises(JobNotFound):
        store.get("0" * 32)
    with pytest.raises(JobNotFound):
        store.cancel("0" * 32)
    with pytest.raises(JobNotFound):
        store.delete("0" * 32)


def test_epochs_are_appended_once_in_order_and_fenced(store, redis_client):
    iid = make_job_in(store, Status.RUNNING)
    store.record_epoch(iid, 1, epoch(1, acc=95.0))
    with pytest.raises(EpochOutOfOrder):
        store.record_epoch(iid, 1, epoch(1))  # a repeat is refused
    with pytest.raises(EpochOutOfOrder):
        store.record_epoch(iid, 1, epoch(3))  # a gap too
    with pytest.raises(StaleAttempt):
        store.record_epoch(iid, 2, epoch(2))  # another attempt's write
    store.record_epoch(iid, 1, epoch(2, acc=94.0, loss=0.2))
    assert [e["epoch"] for e in store.epochs(iid)] == [1, 2]
    job = store.get(iid)
    assert job.epochs_done == 2 and job.metrics["test_accuracy"] == 94.0
    assert job.best["test_accuracy"] == 95.0 and job.runtime == 2.0 and job.metrics["train_loss"] == 0.2
    assert job.best["train_loss"] == 0.2  # a loss is best when lowest
    # appended, not rewritten: a list with one entry per epoch
    assert redis_client.type(f"test:job:{iid}:epochs") == "list"


def test_epochs_of_a_finished_job_are_refused(store):
    iid = make_job_in(store, Status.DONE)
    with pytest.raises(IllegalTransition):
        store.record_epoch(iid, 1, epoch(1))


def test_delete_only_finished_and_leaves_nothing(store, redis_client):
    running = make_job_in(store, Status.RUNNING)
    with pytest.raises(IllegalTransition):
        store.delete(running)
    store.record_epoch(running, 1, epoch(1))
    store.finish(running, 1, Status.DONE)
    store.delete(running)
    with pytest.raises(JobNotFound):
        store.get(running)
    # only a tombstone that expires (a resent delete answers OK) names it
    assert [k for k in redis_client.keys("test:*") if running in k] == [f"test:deleted:{running}"]
    assert 0 < redis_client.ttl(f"test:deleted:{running}") <= 86400
    assert all(redis_client.zscore(k, running) is None for k in redis_client.keys("test:idx:*"))
    assert redis_client.keys("test:text:tok:*") == [] and redis_client.zcard("test:text:vocab") == 0
    store.delete(running)  # asked again: the same answer
    assert store.counts()["total"] == 0


def test_create_many_is_one_batch(store):
    iids = store.create_many([HyperParams(learning_rate=lr) for lr in (0.1, 0.01, 0.001)])
    assert store.queue_length() == 3 and len(set(iids)) == 3
    assert [store.claim(f"w{n}").hyper_params["learning_rate"] for n in range(3)] == [0.1, 0.01, 0.001]


def test_racing_cancel_against_claim_never_leaves_a_job_both(redis_server):
    # 200 threads each with a connection of its own (the default pool is smaller)
    store = Store(redis.Redis.from_url(redis_server.url, decode_responses=True,
                                       max_connections=256), prefix="test:")
    iids = [store.create(HP) for _ in range(100)]
    start = threading.Barrier(200)
    claimed: list[str] = []
    errors: list[BaseException] = []

    def claimer(n):
        start.wait()
        try:
            # a worker runs one job at a time: each claim here is a new worker
            for k in itertools.count():
                if (c := store.claim(f"w{n}-{k}")) is None:
                    break
                claimed.append(c.iid)
        except BaseException as exc:
            errors.append(exc)

    def canceller(n):
        start.wait()
        for iid in random.Random(n).sample(iids, 30):
            try:
                store.cancel(iid)
            except IllegalTransition as exc:  # already cancelled by another thread
                if exc.current != "cancelled":
                    errors.append(exc)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(100)]
    threads += [threading.Thread(target=canceller, args=(n,)) for n in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(claimed) == len(set(claimed)), "a job was claimed twice"
    for job in store.get_many(iids):
        if job.iid in claimed:
            assert job.status is Status.RUNNING
        else:
            assert job.status is Status.CANCELLED
        for scope in ("waiting", "running", "cancelled"):
            in_scope = store.redis.zscore(store.keys.index(scope, "created"), job.iid) is not None
            assert in_scope == (scope == job.status.value)
    counts = store.counts()
    assert counts["running"] + counts["cancelled"] == 100 and counts["waiting"] == 0
    assert store.queue_length() == 0


# -- listing: sorted and paged in Redis, checked against a brute-force sort ---
@pytest.fixture
def many_jobs(store):
    rng = random.Random(7)
    params = [HyperParams(model=rng.choice(["mlp", "cnn"]), num_epochs=rng.randint(1, 9),
                          optimizer=rng.choice(["adam", "sgd", "adamw"]), seed=i,
                          learning_rate=rng.choice([0.1, 0.01, 0.001]),
                          batch_size=rng.choice([32, 64, 128])) for i in range(2000)]
    iids = []
    for chunk in range(0, 2000, 500):
        iids += store.create_many(params[chunk:chunk + 500], now=1000.0 + chunk)
    claimed = []
    for n in range(1500):
        claimed.append(store.claim(f"w{n}"))
    for c in claimed:
        for n in range(1, rng.randint(0, 5) + 1):
            store.record_epoch(c.iid, c.attempt, epoch(
                n, acc=round(rng.uniform(80, 99), 1), loss=round(rng.uniform(0.01, 2), 2),
                t=round(rng.uniform(0.5, 3), 1)))
        fate = rng.choice([Status.RUNNING, Status.DONE, Status.FAILED, Status.CANCELLED])
        if fate is not Status.RUNNING:
            store.finish(c.iid, c.attempt, fate)
    for iid in rng.sample(iids[1500:], 100):
        store.cancel(iid)
    return store.get_many(iids)


def sort_value(job, sort):
    if sort == "status":
        return STATUS_ORDER.index(job.status.value)
    if sort == "epochs":
        return job.epochs_done
    if sort in ("created", "runtime"):
        return getattr(job, sort)
    index = SORTS[sort].index
    kind, name = index.split(":")
    if kind == "p":
        value = job.hyper_params[name]
        return text_score(value) if isinstance(value, str) else value
    return (job.metrics if kind == "m" else job.best).get(name)


def matches(job, words):
    """The search's rule: a status name matches the status; any other word must
    begin one of the job's tokens (its iid, its hyperparameters' values)."""
    tokens = {job.iid, *(str(v).lower() if isinstance(v, str) else json.dumps(v)
                         for v in job.hyper_params.values())}
    return all(job.status.value == w if w in {s.value for s in Status}
               else any(t.startswith(w) for t in tokens) for w in words)


FILTER_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
              "=": operator.eq}


def passes(job, word):
    """A filter word's rule, by hand: the job's value for the sort name is in range."""
    name, op, number = re.fullmatch(r"([a-z_]+)(>=|<=|>|<|=)(.+)", word).groups()
    value = sort_value(job, name)
    return value is not None and FILTER_OPS[op](value, float(number))


def brute_force(jobs, sort, order, status, text=""):
    words = re.sub(r"\s*(>=|<=|>|<|=)\s*", r"\1", text.lower()).split()
    filters = [w for w in words if re.search("[<>=]", w)]
    words = [w for w in words if w not in filters]
    picked = [j for j in jobs if (status is None or j.status.value == status)
              and matches(j, words) and all(passes(j, f) for f in filters)]
    order = order or SORTS[sort].default_order
    value = lambda j: sort_value(j, sort)  # noqa: E731
    if sort == "status":  # by status, then newest first within one
        return [j.iid for j in sorted(picked, key=lambda j: (
            value(j) if order == "asc" else -value(j), -j.created, tuple(-ord(c) for c in j.iid)))]
    ranked = sorted((j for j in picked if value(j) is not None), key=lambda j: (value(j), j.iid),
                    reverse=order == "desc")
    unranked = sorted((j for j in picked if value(j) is None), key=lambda j: (j.created, j.iid),
                      reverse=True)
    return [j.iid for j in ranked + unranked]


def test_sorting_and_paging_match_a_brute_force_sort(store, many_jobs):
    for sort in LIST_SORTS:
        check_sort(store, many_jobs, sort)


def check_sort(store, many_jobs, sort):
    rng = random.Random(sort)
    for order in ("asc", "desc"):
        for status in (None, "waiting", "running", "done", "failed", "cancelled"):
            expected = brute_force(many_jobs, sort, order, status)
            for _ in range(3):
                offset, limit = rng.randint(0, len(expected) + 5), rng.choice([1, 7, 50, 1000])
                page = store.list_jobs(sort=sort, order=order, status=status, limit=limit,
                                       offset=offset)
                assert page.total == len(expected)
                assert [j.iid for j in page.jobs] == expected[offset:offset + limit], (
                    sort, order, status, offset, limit)
            if SORTS[sort].late and status in (None, "waiting"):
                # jobs without the metric yet come last in either order
                assert expected[-1] not in {j.iid for j in many_jobs if j.epochs_done}


@pytest.mark.parametrize("few, stretch", [(text.FEW_MATCHES, text.WALK_STRETCH), (10, 37)],
                         ids=["default", "walking-in-short-stretches"])
def test_text_search_matches_a_brute_force_filter(store, many_jobs, monkeypatch, few, stretch):
    # few matches are sorted by score, many are found by walking the index:
    # with small limits the second way is taken for nearly every query
    monkeypatch.setattr(text, "FEW_MATCHES", few)
    monkeypatch.setattr(text, "WALK_STRETCH", stretch)
    monkeypatch.setattr(text, "TOKENS_PER_CALL", 3)
    rng = random.Random(11)
    some_iid = many_jobs[17].iid
    for query in ["sgd", "mlp 0.01", "CNN Adamw", "ada", "done", "done mlp", "done failed",
                  some_iid[:10], some_iid[:1], "0.0", "nothing-matches", "  ", "adam 12",
                  "test_accuracy>95", "test_accuracy >= 95.5 sgd", "best_test_accuracy<93",
                  "learning_rate<=0.01 epochs>0", "runtime<1e9 test_loss>0.1 mlp",
                  "test_accuracy>1000", "num_epochs=3", "done train_loss<0.5"]:
        for sort in ("created", "test_accuracy", "learning_rate", "status", "model"):
            for status in (None, "done", "running"):
                for order in ("asc", "desc"):
                    expected = brute_force(many_jobs, sort, order, status, query)
                    offset = rng.choice([0, rng.randint(0, max(0, len(expected) - 10))])
                    page = store.list_jobs(sort=sort, order=order, status=status, text=query,
                                           offset=offset, limit=25)
                    assert page.total == len(expected), (query, sort, status)
                    assert [j.iid for j in page.jobs] == expected[offset:offset + 25], (
                        query, sort, order, status, offset)
    assert store.redis.keys("test:tmp:*") == []  # a search leaves nothing behind


def test_text_search_indexes_jobs_stored_before_the_index(store, redis_client):
    old, new = store.create(HyperParams(optimizer="sgd")), store.create(HyperParams())
    # as an older mltrack stored it: no tokens, in no token set
    redis_client.hdel(f"test:job:{old}", "tokens")
    for key in redis_client.keys("test:text:*"):
        redis_client.delete(key)
    assert [j.iid for j in store.list_jobs(text="sgd").jobs] == [old]
    assert [j.iid for j in store.list_jobs(text=new[:12]).jobs] == []  # indexed once, not again
    assert redis_client.get("test:text:indexed") == "1"


def test_retry_queues_a_copy_of_a_failed_job(store):
    failed = make_job_in(store, Status.FAILED)
    again = store.retry(failed)
    job = store.get(again)
    assert job.status is Status.WAITING and job.retry_of == failed
    assert job.hyper_params == store.get(failed).hyper_params
    with pytest.raises(IllegalTransition):
        store.retry(again)  # waiting: nothing to retry


def test_counts_match_the_records(store, many_jobs):
    counts = store.counts()
    for status in Status:
        assert counts[status.value] == sum(j.status is status for j in many_jobs)
    assert counts["total"] == 2000


# -- every write is safe to send twice (a reply lost, the command resent) -----
def test_a_resent_create_changes_nothing(store):
    iids = ["a" * 32, "b" * 32]
    params = [HyperParams(seed=1), HyperParams(seed=2)]
    assert store.create_many(params, iids=iids) == iids
    assert store.create_many(params, iids=iids) == iids
    assert store.counts()["total"] == 2 and store.queue_length() == 2


def test_a_resent_claim_gets_the_same_job_and_leaves_the_next_queued(store):
    first, second = store.create(HP), store.create(HP)
    c1, again = store.claim("w1"), store.claim("w1")
    assert (c1.iid, c1.attempt) == (again.iid, again.attempt) == (first, 1)
    assert store.queue_length() == 1 and store.get(second).status is Status.WAITING
    store.finish(first, 1, Status.DONE)
    assert store.claim("w1").iid == second  # its job ended: a new claim is a new job


def test_a_resent_epoch_is_recorded_once(store):
    iid = make_job_in(store, Status.RUNNING)
    store.record_epoch(iid, 1, epoch(1), b"ckpt-1")
    store.record_epoch(iid, 1, epoch(1), b"ckpt-1")
    assert store.epochs(iid) == [epoch(1)] and store.get(iid).epochs_done == 1
    with pytest.raises(EpochOutOfOrder):  # a different epoch 1 is still refused
        store.record_epoch(iid, 1, epoch(1, acc=50.0))


def test_resent_finish_requeue_cancel_and_delete_answer_as_the_first(store):
    done = make_job_in(store, Status.RUNNING)
    store.finish(done, 1, Status.DONE, error=None)
    finished = store.get(done)
    store.finish(done, 1, Status.DONE)
    assert store.get(done) == finished
    back = make_job_in(store, Status.RUNNING)
    store.requeue(back, 1)
    store.requeue(back, 1)
    assert store.queue_length() == 1 and store.get(back).status is Status.WAITING
    assert store.cancel(back) is store.cancel(back) is Status.CANCELLED
    store.delete(done)
    store.delete(done)
    with pytest.raises(JobNotFound):
        store.delete("c" * 32)  # never existed: still unknown


# -- values are checked before a script writes anything -----------------------
@pytest.mark.parametrize("field, value", [
    ("train_loss", float("nan")), ("test_accuracy", float("inf")), ("time_training", "1"),
    ("epoch", 1.5), ("epoch", 0), ("test_loss", None)])
def test_an_unstorable_metric_writes_nothing(store, redis_client, field, value):
    iid = make_job_in(store, Status.RUNNING)
    before = {k: redis_client.dump(k) for k in redis_client.keys("test:*")}
    with pytest.raises(InvalidValue) as err:
        store.record_epoch(iid, 1, {**epoch(1), field: value})
    assert err.value.field == field
    assert {k: redis_client.dump(k) for k in redis_client.keys("test:*")} == before


def test_a_diverged_epoch_leaves_every_listing_consistent(store):
    iid = make_job_in(store, Status.RUNNING)
    store.record_epoch(iid, 1, epoch(1))
    with pytest.raises(InvalidValue):
        store.record_epoch(iid, 1, {**epoch(2), "train_loss": float("nan")})
    store.finish(iid, 1, Status.FAILED, error="diverged at epoch 2: train loss is nan")
    for sort in LIST_SORTS:
        page = store.list_jobs(sort=sort)
        assert page.total == 1 and [j.iid for j in page.jobs] == [iid], sort


def test_cancelling_a_waiting_job_drops_its_checkpoint(store, redis_client):
    iid = make_job_in(store, Status.RUNNING)
    store.record_epoch(iid, 1, epoch(1), b"weights")
    store.requeue(iid, 1)
    assert store.checkpoint(iid) == b"weights"  # kept for the resume
    store.cancel(iid)
    assert store.checkpoint(iid) is None


def test_a_queued_job_whose_params_no_longer_validate_is_failed_with_the_reason(store, redis_client):
    broken, fine = store.create(HP), store.create(HP)
    redis_client.hset(f"test:job:{broken}", "hyper_params", json.dumps({"model": "resnet"}))
    claim = store.claim("w1")
    assert claim.iid == fine
    job = store.get(broken)
    assert job.status is Status.FAILED and "model" in job.error and "not valid" in job.error
    assert store.queue_length() == 0 and store.counts()["running"] == 1


def test_choice_scores_do_not_depend_on_the_list_of_choices(store, monkeypatch):
    import mltrack.params as params

    iid = store.create(HyperParams(model="mlp", optimizer="sgd"))
    scores = {k: store.redis.zscore(store.keys.index("all", f"p:{k}"), iid) for k in ("model", "optimizer")}
    assert scores == {"model": text_score("mlp"), "optimizer": text_score("sgd")}
    # a new choice that sorts first changes no stored score
    monkeypatch.setattr(params, "MODELS", ("aaa", *params.MODELS))
    again = store.create(HyperParams(model="mlp", optimizer="sgd"))
    assert store.redis.zscore(store.keys.index("all", "p:model"), again) == scores["model"]
    assert text_score("adam") < text_score("adamw") < text_score("sgd")


def test_kept_search_words_stay_true_through_creates_deletes_and_eviction(store, monkeypatch):
    monkeypatch.setattr(text, "WORDS_KEPT", 2)
    adam = store.create(HyperParams(optimizer="adam", learning_rate=0.05))
    sgd = store.create(HyperParams(optimizer="sgd", learning_rate=0.03))

    def found(q):
        return {j.iid for j in store.list_jobs(text=q).jobs}

    assert found("ada") == {adam}  # "ada" spans adam (and adamw, once it exists)
    assert store.redis.hget("test:text:built", "ada") is None  # one token: nothing kept
    adamw = store.create(HyperParams(optimizer="adamw", learning_rate=0.07))
    assert found("ada") == {adam, adamw}
    assert store.redis.hget("test:text:built", "ada") == "done"  # two tokens: kept
    gone = store.create(HyperParams(optimizer="adam", seed=3))
    assert found("ada") == {adam, adamw, gone}  # kept, and told of the new job
    store.cancel(gone)
    store.delete(gone)
    assert found("ada") == {adam, adamw}
    assert found("0.0") == {adam, sgd, adamw}  # 0.05, 0.03, 0.07 (and momentum 0.0)
    assert found("0.0 ada") == {adam, adamw}
    assert found("0.") == {adam, sgd, adamw}  # a third word kept: the least recently used goes
    assert store.redis.zrange("test:text:words", 0, -1) == ["ada", "0."]
    assert found("0.0") == {adam, sgd, adamw}  # and is built anew


# -- any task: its own hyperparameters and metrics ------------------------------
QUAD = Schema("quadratic", {"lr": Float(0.1, low=1e-4, high=1, log=True),
                            "steps": Int(5, low=1, high=100),
                            "method": Choice(["gd", "momentum"], default="gd")},
              (Metric("loss", goal="min"), Metric("x")), epochs="steps")


def quad_job(store, lr, losses, worker):
    iid = store.create({"lr": lr}, schema=QUAD)
    claim = store.claim(worker, tasks={"quadratic": QUAD})
    assert (claim.iid, claim.task, claim.hyper_params) == (
        iid, "quadratic", {"lr": lr, "steps": 5, "method": "gd"})
    for n, loss in enumerate(losses, 1):
        store.record_epoch(iid, claim.attempt, {"epoch": n, "time_training": n,
                                                "loss": loss, "x": -loss})
    return iid


def test_a_task_of_its_own_is_sorted_by_its_metrics_best_first(store):
    store.register_task(QUAD)
    mnist_job = make_job_in(store, Status.DONE)
    a = quad_job(store, 0.1, [4.0, 1.0, 2.0], "w-a")  # best 1.0, last 2.0
    b = quad_job(store, 0.2, [3.0, 1.5], "w-b")  # best 1.5, last 1.5
    c = store.create({"lr": 0.3}, schema=QUAD)  # no epoch yet
    assert store.get(a).best == {"loss": 1.0, "x": -1.0} and store.get(a).num_epochs == 5

    def ids(**kw):
        return [j.iid for j in store.list_jobs(**kw).jobs]

    assert ids(sort="loss") == [b, a, c]  # lowest last loss first, no value yet last
    assert ids(sort="best_loss") == [a, b, c]
    assert ids(sort="best_x") == [a, b, c]  # x has no cost word: highest (-1 > -1.5) is best
    assert ids(sort="loss", order="desc") == [a, b, c]
    assert ids(sort="lr") == [a, b, c]
    assert ids(task="quadratic") == [c, b, a] and ids(task="mnist") == [mnist_job]
    assert ids(task="quadratic", status="running", sort="loss") == [b, a]
    assert store.list_jobs(sort="loss").total == 3  # the jobs of tasks that have it
    assert ids(text="quadratic 0.2") == [b]
    with pytest.raises(ValueError):
        store.list_jobs(sort="loss", task="mnist")  # mnist has no loss


def test_a_worker_claims_only_the_tasks_it_has(store):
    store.register_task(QUAD)
    quad = store.create({"lr": 0.5}, schema=QUAD)
    mnist_job = store.create(HP)
    assert store.claim("mnist-only").iid == mnist_job  # by default: the built-in mnist
    assert store.claim("mnist-only-2") is None  # quadratic waits for a worker that has it
    assert store.get(quad).status is Status.WAITING
    assert store.overview()["waiting_by_task"] == {"quadratic": 1}
    got = store.claim("both", tasks={"mnist": MNIST, "quadratic": QUAD})
    assert got.iid == quad and got.task == "quadratic"


def test_the_oldest_waiting_job_of_the_worker_s_tasks_goes_first(store):
    first = store.create({"lr": 0.5}, schema=QUAD, now=10.0)
    second = store.create(HP, now=20.0)
    third = store.create({"lr": 0.4}, schema=QUAD, now=30.0)
    tasks = {"mnist": MNIST, "quadratic": QUAD}
    assert [store.claim(f"w{n}", tasks=tasks).iid for n in range(3)] == [first, second, third]


def test_the_task_registry_is_shared_through_redis(store, redis_client):
    assert store.register_task(QUAD) is True
    other = Store(redis_client, prefix="test:")  # another mltrack on the same Redis
    assert other.schemas()["quadratic"] == QUAD and "mnist" in other.schemas()
    assert list(other.schemas()["quadratic"].params) == ["lr", "steps", "method"]  # as declared
    changed = Schema("quadratic", {"lr": Float(0.1, low=0, high=1)}, (Metric("loss"),))
    assert store.register_task(changed) is False  # a different schema of that name


def test_metrics_a_task_did_not_declare_get_a_goal_from_their_name(store):
    iid = quad_job(store, 0.1, [2.0], "w-1")
    claim_attempt = store.get(iid).attempts
    store.record_epoch(iid, claim_attempt, {"epoch": 2, "time_training": 2, "loss": 1.0,
                                            "x": 0.5, "val_error": 0.3, "val_acc": 0.9})
    store.record_epoch(iid, claim_attempt, {"epoch": 3, "time_training": 3, "loss": 1.5,
                                            "x": 0.7, "val_error": 0.4, "val_acc": 0.8})
    job = store.get(iid)
    assert job.best["val_error"] == 0.3 and job.best["val_acc"] == 0.9
    with pytest.raises(ValueError):
        store.list_jobs(sort="val_acc")  # no registered task declares it: no sort name
    assert store.redis.zscore(store.keys.index("all", "b:val_error"), iid) == 0.3
    with pytest.raises(InvalidValue):
        store.record_epoch(iid, claim_attempt, {"epoch": 4, "time_training": 4, "Bad Name": 1})


def test_a_search_sorted_by_a_task_metric_counts_only_the_jobs_listed(store):
    store.register_task(QUAD)
    quad_job(store, 0.1, [1.0], "w-1")
    store.create({"lr": 0.2}, schema=QUAD)
    store.create(HyperParams(learning_rate=0.1))  # mnist: no loss
    for sort, expected in (("loss", 2), ("lr", 2), ("created", 3), ("runtime", 3)):
        page = store.list_jobs(sort=sort, text="0.")
        assert page.total == len(page.jobs) == expected, sort


@pytest.mark.parametrize("query, rule", [
    ("test_acuracy>97", "no column 'test_acuracy'"),
    ("status>1", "no column 'status'"),
    ("test_accuracy>ninety", "'ninety' is not a number"),
    ("test_accuracy>inf", "must be finite"),
    ("> 97", "a filter is a column, a comparison and a number"),
    ("test_accuracy>", "a filter is a column, a comparison and a number"),
])
def test_a_filter_that_cannot_apply_names_the_query_and_the_rule(store, query, rule):
    store.create(HyperParams())
    with pytest.raises(InvalidValue) as raised:
        store.list_jobs(text=query)
    assert raised.value.field == "q" and rule in str(raised.value)


def test_a_filter_on_a_task_metric_keeps_the_jobs_in_range(store):
    store.register_task(QUAD)
    low, high = quad_job(store, 0.1, [0.5], "w-1"), quad_job(store, 0.2, [2.0], "w-2")
    store.create(HyperParams())  # mnist: no loss at all
    assert [j.iid for j in store.list_jobs(text="loss<1").jobs] == [low]
    assert [j.iid for j in store.list_jobs(text="loss >= 0.5", sort="loss").jobs] == [low, high]
    assert store.list_jobs(text="loss<=0.5 lr=0.1", task="quadratic").total == 1
    assert store.list_jobs(text="loss<0.5").total == 0


# -- tracked runs: scripts outside the queue --------------------------------------------
from mltrack.store import NotTracked, WrongToken  # noqa: E402


def tracked(store, lease=30.0, **kw):
    return store.start_tracked("script", {"lr": 0.1, "opt": "adam"}, {"loss": "min"},
                               lease=lease, **kw)


def test_a_tracked_run_starts_running_under_its_lease_and_no_claim_takes_it(store):
    iid, token = tracked(store, lease=12, now=1000.0)
    job = store.get(iid)
    assert (job.status, job.tracked, job.attempts, job.lease) == (Status.RUNNING, True, 1, 12)
    assert job.started == job.created == 1000.0
    assert store.redis.zscore(store.keys.leases, iid) == 1012.0
    assert store.queue_length("script") == 0
    schema = Schema("script", {"lr": Float(0.1)}, (Metric("loss"),))
    assert store.claim("w", tasks={"script": schema}) is None
    assert [j.iid for j in store.list_jobs(status="running").jobs] == [iid]
    assert store.redis.zscore(store.keys.index("t:script:running", "p:lr"), iid) == 0.1
    assert store.list_jobs(text="adam").total == 1  # and its words
    assert store.check_token(iid, token).iid == iid


def test_a_tracked_start_sent_again_changes_nothing(store):
    first = tracked(store, iid="a" * 32, token="secret")
    before = store.redis.hgetall(store.keys.job("a" * 32))
    assert tracked(store, iid="a" * 32, token="secret") == first
    assert store.redis.hgetall(store.keys.job("a" * 32)) == before
    assert store.counts() == {**store.counts(), "running": 1, "total": 1}


def test_tokens_guard_tracked_runs_and_only_them(store):
    iid, token = tracked(store)
    with pytest.raises(WrongToken):
        store.heartbeat_tracked(iid, token + "x")
    with pytest.raises(WrongToken):
        store.check_token(iid, "")
    worker_job = store.create(HP)
    with pytest.raises(NotTracked):
        store.check_token(worker_job, token)
    with pytest.raises(JobNotFound):
        store.check_token("f" * 32, token)


def test_reap_fails_a_lost_tracked_run_at_once_and_requeues_a_workers_job(store):
    iid, token = tracked(store, lease=5, now=1000.0)
    store.create(HP, now=1000.0)
    claim = store.claim("w1", lease=5, now=1000.0)
    assert store.reap(now=1004.0) == {}
    assert store.reap(now=1006.0) == {iid: Status.FAILED, claim.iid: Status.WAITING}
    job = store.get(iid)
    assert job.status is Status.FAILED and job.finished == 1006.0 and job.attempts == 1
    assert job.error == ("lost: its script stopped reporting for 5.0 s (it was killed, "
                         "crashed or lost the network)")
    assert store.queue_length("script") == 0
    assert store.redis.zscore(store.keys.leases, iid) is None
    assert [j.iid for j in store.list_jobs(status="failed").jobs] == [iid]
    assert store.reap(now=2000.0) == {}  # reaped once, never again
    with pytest.raises(IllegalTransition):
        store.heartbeat_tracked(iid, token)


def test_a_heartbeat_keeps_a_tracked_run_from_the_reaper(store):
    iid, token = tracked(store, lease=5, now=1000.0)
    store.heartbeat_tracked(iid, token, {"done": 2, "total": 4}, now=1004.0)
    assert store.reap(now=1006.0) == {}
    assert store.get(iid).progress["batch"] == 2
    assert store.reap(now=1009.5) == {iid: Status.FAILED}


def test_cancel_ends_a_tracked_run_at_once(store):
    iid, token = tracked(store)
    assert store.cancel(iid) is Status.CANCELLED
    job = store.get(iid)
    assert job.status is Status.CANCELLED and not job.cancel_requested
    assert store.redis.zscore(store.keys.leases, iid) is None
    assert [j.iid for j in store.list_jobs(status="cancelled").jobs] == [iid]
    with pytest.raises(IllegalTransition):
        store.log_tracked(iid, token, 1, {"loss": 0.1}, {"loss": "min"})
    assert store.epochs(iid) == []
    with pytest.raises(IllegalTransition):
        store.retry(iid)  # its script runs it again, not a worker


def test_a_tracked_runs_epochs_may_skip_a_workers_may_not(store):
    iid, token = tracked(store)
    store.log_tracked(iid, token, 2, {"loss": 0.5}, {"loss": "min"})
    store.log_tracked(iid, token, 7, {"loss": 0.7}, {"loss": "min"})
    store.log_tracked(iid, token, 7, {"loss": 0.7}, {"loss": "min"})  # sent again: once
    assert [e["epoch"] for e in store.epochs(iid)] == [2, 7]
    job = store.get(iid)
    assert job.epochs_done == 7 and job.metrics == {"loss": 0.7} and job.best == {"loss": 0.5}
    with pytest.raises(EpochOutOfOrder):
        store.log_tracked(iid, token, 7, {"loss": 0.6}, {"loss": "min"})
    worker_job = store.create(HP)
    claim = store.claim("w")
    with pytest.raises(EpochOutOfOrder):
        store.record_epoch(worker_job, claim.attempt, epoch(2))


def test_a_tracked_schema_is_written_only_over_what_was_read(store):
    calls = []

    def extend(entry):
        calls.append(entry)
        if len(calls) == 1:  # another writer comes first, between our read and write
            store.redis.hset(store.keys.tasks, "script", json.dumps({"who": "other"}))
        return {**(entry or {}), "mine": True}

    store.update_task_entry("script", extend)
    assert calls == [None, {"who": "other"}]  # read again after the other writer
    assert json.loads(store.redis.hget(store.keys.tasks, "script")) == {"who": "other",
                                                                       "mine": True}
    store.update_task_entry("script", lambda entry: None)  # nothing to change: no write
    assert json.loads(store.redis.hget(store.keys.tasks, "script"))["mine"] is True


def test_tracked_run_writes_survive_lost_replies(redis_server, redis_client):
    """Through a proxy that drops replies and commands: every tracked run is
    started once, each epoch recorded once, the schema extended without a
    loss, and none is failed or lost (as tests/test_lost_replies.py for jobs)."""
    from lossy_proxy import LossyProxy
    from mltrack import tracking
    from test_lost_replies import until_done

    proxy = LossyProxy(redis_server.url.removeprefix("unix://"), drop_reply=0.06,
                       drop_command=0.02, seed=7)
    lossy = Store.from_url(proxy.url, prefix="test:")
    retried, runs = [0], {}
    try:
        for n in range(30):
            iid, token = f"{n:032x}", f"token-{n}"
            params = {"lr": 0.1 * (n + 1), f"p{n % 5}": n}  # new parameters now and then
            plans = []

            def extend(entry):
                plans.append(tracking.plan_run("script", entry, params, {}))
                return plans[-1].entry

            until_done(lambda: lossy.update_task_entry("script", extend), retried)
            until_done(lambda: lossy.start_tracked("script", plans[-1].params, plans[-1].goals,
                                                   lease=60, iid=iid, token=token), retried)
            for e in (1, 3, 4):
                until_done(lambda: lossy.log_tracked(iid, token, e, {"loss": 1 / e},
                                                     {"loss": "min"}), retried)
                until_done(lambda: lossy.heartbeat_tracked(iid, token, {"done": 1, "total": 2}),
                           retried)
            until_done(lambda: lossy.finish_tracked(iid, token, Status.DONE), retried)
            runs[iid] = params
    finally:
        proxy.close()
    direct = Store(redis_client, prefix="test:")
    assert direct.counts()["total"] == direct.counts()["done"] == len(runs)
    for iid in runs:
        job = direct.get(iid)
        assert job.status is Status.DONE and job.error is None and job.lost == 0
        assert [e["epoch"] for e in direct.epochs(iid)] == [1, 3, 4]
    entry = json.loads(direct.redis.hget(direct.keys.tasks, "script"))
    assert set(entry["params"]) == {"lr", "p0", "p1", "p2", "p3", "p4"}
    assert proxy.replies_dropped >= 5 and proxy.commands_dropped >= 2


def test_only_a_tracked_task_with_no_jobs_is_removed(store):
    from mltrack.store import TaskInUse, TaskNotFound
    iid, token = tracked(store)
    store.update_task_entry("script", lambda _: {"name": "script", "tracked": True,
                                                 "params": {}, "metrics": []})
    with pytest.raises(TaskInUse, match="1 run"):
        store.delete_tracked_task("script")
    store.finish_tracked(iid, token, Status.DONE)
    store.delete(iid)
    store.delete_tracked_task("script")
    assert store.task_entry("script") is None and "script" not in store.tracked_tasks()
    with pytest.raises(TaskNotFound):
        store.delete_tracked_task("script")
    store.register_task(Schema("declared", {"lr": Float(0.1)}, (Metric("loss"),)))
    with pytest.raises(TaskInUse, match="worker"):
        store.delete_tracked_task("declared")
