"""Every store write survives a lost reply: through a proxy that drops them, nothing
is lost, nothing is done twice, and no healthy job is failed."""
from __future__ import annotations

import random
import uuid

import redis

from lossy_proxy import LossyProxy
from mltrack.params import HyperParams
from mltrack.store import Status, Store

OPERATIONS = 1200


def until_done(call, retried):
    """Call until it gets an answer, as the worker's own write loop does; every
    failure is a connection lost (anything else would be a wrong answer)."""
    while True:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError):
            retried[0] += 1


def test_a_thousand_operations_through_lost_replies(redis_server, redis_client):
    proxy = LossyProxy(redis_server.url.removeprefix("unix://"), drop_reply=0.06,
                       drop_command=0.02, seed=42)
    lossy = Store.from_url(proxy.url, prefix="test:")
    rng = random.Random(42)
    ops, retried = 0, [0]
    created, cancelled, finished = [], set(), {}
    try:
        while ops < OPERATIONS:
            iid = uuid.uuid4().hex
            params = HyperParams(model="mlp", num_epochs=rng.randint(1, 4), seed=ops)
            until_done(lambda: lossy.create_many([params], iids=[iid]), retried)
            created.append(iid)
            ops += 1
            if rng.random() < 0.2:
                # cancelled while waiting (twice, as a client that lost the reply would)
                assert until_done(lambda: lossy.cancel(iid), retried) is Status.CANCELLED
                assert until_done(lambda: lossy.cancel(iid), retried) is Status.CANCELLED
                cancelled.add(iid)
                ops += 2
                continue
            worker = f"worker-{ops}"
            claim = until_done(lambda: lossy.claim(worker, lease=60), retried)
            assert claim.iid == iid, "a claim took another job than the next queued"
            ops += 1
            for n in range(1, params.num_epochs + 1):
                metrics = {"epoch": n, "train_loss": 1 / n, "train_accuracy": 90 + n,
                           "test_loss": 1.1 / n, "test_accuracy": 89 + n, "time_training": n}
                until_done(lambda: lossy.record_epoch(iid, claim.attempt, metrics,
                                                      f"ckpt-{n}".encode()), retried)
                until_done(lambda: lossy.heartbeat(iid, claim.attempt, 60), retried)
                ops += 2
            until_done(lambda: lossy.finish(iid, claim.attempt, Status.DONE), retried)
            finished[iid] = params.num_epochs
            ops += 1
    finally:
        proxy.close()

    direct = Store(redis_client, prefix="test:")
    jobs = {j.iid: j for j in direct.get_many(created)}
    assert len(jobs) == len(created), "a created job was lost"
    assert direct.counts()["total"] == len(created), "a job was created twice"
    assert direct.queue_length() == 0 and direct.counts()["running"] == 0
    for iid, job in jobs.items():
        assert job.lost == 0 and job.error is None, "a healthy job was failed"
        if iid in cancelled:
            assert job.status is Status.CANCELLED
        else:
            assert job.status is Status.DONE and job.attempts == 1
            assert [e["epoch"] for e in direct.epochs(iid)] == list(range(1, finished[iid] + 1))
    print(f"\nlost replies: {ops} operations, {proxy.forwarded} commands forwarded, "
          f"{proxy.replies_dropped} replies and {proxy.commands_dropped} commands dropped, "
          f"{retried[0]} calls failed after redis-py's own retries and were called again; "
          f"0 lost, 0 duplicated, 0 wrongly failed")
    assert proxy.replies_dropped >= 30 and proxy.commands_dropped >= 10
