"""The embedded valkey-server: private, durable, one per data dir."""
from __future__ import annotations

import os
import signal
import stat
import threading
import time

import pytest
import redis

from mltrack.embedded import DataDirInUse, EmbeddedRedis
from mltrack.params import HyperParams
from mltrack.store import Store


def test_private_unix_socket_and_no_tcp(tmp_path):
    with EmbeddedRedis(tmp_path / "data") as server:
        assert server.url.startswith("unix://")
        assert stat.S_IMODE(os.stat(server.socket_path).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(server.socket_path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("port")["port"] == "0"  # no TCP listener at all
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        listening = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
        pid = server.pid
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        socket_inodes = {i[8:-1] for i in inodes if i.startswith("socket:[")}
        for line in listening.splitlines()[1:]:
            assert line.split()[9] not in socket_inodes, "valkey-server has a TCP socket"
    assert not server.socket_path.exists()


def test_stop_is_clean_and_keeps_the_data(tmp_path):
    with EmbeddedRedis(tmp_path) as server:
        iid = Store.from_url(server.url).create(HyperParams())
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with EmbeddedRedis(tmp_path) as server:
        assert Store.from_url(server.url).get(iid).iid == iid


def test_a_second_user_of_a_data_dir_is_refused_clearly(tmp_path):
    with EmbeddedRedis(tmp_path):
        with pytest.raises(DataDirInUse, match=f"{tmp_path}.*in use by another mltrack"):
            EmbeddedRedis(tmp_path).start()


def test_a_deep_data_dir_still_gets_a_private_socket(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with EmbeddedRedis(deep) as server:
        assert len(str(server.socket_path)) <= 100
        assert stat.S_IMODE(os.stat(server.socket_path.parent).st_mode) == 0o700
        assert redis.Redis.from_url(server.url).ping()


def test_kill_9_of_the_server_loses_no_acknowledged_job(tmp_path):
    """Jobs are created as fast as possible while the server is killed with -9."""
    server = EmbeddedRedis(tmp_path).start()
    store = Store.from_url(server.url)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            try:
                acknowledged.append(store.create(HyperParams(seed=len(acknowledged))))
            except redis.RedisError:
                return

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.5)
    os.kill(server.pid, signal.SIGKILL)
    thread.join(10)
    stop.set()
    server.stop()
    assert len(acknowledged) > 100
    with EmbeddedRedis(tmp_path) as again:
        store = Store.from_url(again.url)
        found = store.get_many(acknowledged)
        assert [j.iid for j in found] == acknowledged
        assert store.counts()["waiting"] >= len(acknowledged)
        assert store.queue_length() >= len(acknowledged)


def test_a_server_left_running_is_replaced_safely(tmp_path):
    """An mltrack killed with -9 leaves its server; the next start shuts it down first."""
    first = EmbeddedRedis(tmp_path).start()
    iid = Store.from_url(first.url).create(HyperParams())
    orphan = first._process
    first._process = None  # forget it, as a killed process would
    first._unlock()
    with EmbeddedRedis(tmp_path) as second:
        assert orphan.wait(10) == 0, "the old server was not shut down cleanly"
        assert second.pid != orphan.pid
        assert Store.from_url(second.url).get(iid).iid == iid
