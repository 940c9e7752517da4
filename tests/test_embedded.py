"""The embedded valkey-server: private, durable, one per data dir."""
from __future__ import annotations

import json
import os
import signal
import stat
import threading
from pathlib import Path

import pytest
import redis

from helpers import gone, in_append_only_file, valkey_wrapper, wait_for
from mltrack.embedded import DataDirInUse, EmbeddedRedis, EmbeddedServerError, Watchdog
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
    wait_for(lambda: len(acknowledged) > 100)
    # `appendfsync everysec`: a write may be answered and held back from the file
    # for up to 2 s while an fsync is slow (a busy CI disk), and a kill -9 loses
    # it. Killed (mid-write still) once the first `safe` jobs are in the file:
    safe = len(acknowledged)
    wait_for(lambda: in_append_only_file(server.redis_dir, acknowledged[safe - 1]))
    os.kill(server.pid, signal.SIGKILL)
    thread.join(10)
    stop.set()
    server.stop()
    with EmbeddedRedis(tmp_path) as again:
        store = Store.from_url(again.url)
        found = [j.iid for j in store.get_many(acknowledged)]
        assert found[:safe] == acknowledged[:safe]  # all that reached the file
        assert found == acknowledged[:len(found)]  # and after it no gap: a prefix
        assert store.counts()["waiting"] >= len(found)
        assert store.queue_length() >= len(found)


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


def test_an_existing_data_dir_keeps_its_mode_and_mltracks_own_dirs_are_private(tmp_path):
    """`--data-dir ~` made the home directory 0700."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    with EmbeddedRedis(home) as server:
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o755
        assert stat.S_IMODE(os.stat(server.redis_dir).st_mode) == 0o700
    with EmbeddedRedis(tmp_path / "new" / "data") as server:  # created here: private
        assert stat.S_IMODE(os.stat(tmp_path / "new" / "data").st_mode) == 0o700


def test_a_data_dir_that_cannot_be_used_is_refused_with_the_reason(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(EmbeddedServerError, match="cannot use the data dir .*a-file/data"):
        EmbeddedRedis(tmp_path / "a-file" / "data").start()


def watched(tmp_path, **options):
    """A server and a watchdog on it that looks every 50 ms; reasons given up on."""
    server = EmbeddedRedis(tmp_path).start()
    reasons: list[str] = []
    dog = Watchdog(server, on_give_up=reasons.append, interval=0.05, retry_delay=0.05,
                   **options).start()
    return server, dog, reasons


def test_the_watchdog_restarts_a_killed_server_on_the_same_data_and_socket(tmp_path, caplog):
    server, dog, reasons = watched(tmp_path)
    try:
        store = Store.from_url(server.url)
        iids = [store.create(HyperParams(seed=n)) for n in range(50)]
        # everysec may hold the last writes back up to 2 s (a slow fsync): kill the
        # server once they are in its file
        wait_for(lambda: in_append_only_file(server.redis_dir, iids[-1]))
        socket_path, first = server.socket_path, server.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: serving_pid(server) == server.pid != first)
        assert server.socket_path == socket_path
        # the same client goes on, and every job in the file is there
        assert [j.iid for j in store.get_many(iids)] == iids
        assert store.create(HyperParams()) and reasons == []
        assert f"pid {first} ended (killed by SIGKILL); restarting" in caplog.text
        # logged by the watchdog's thread just after server.json is written
        wait_for(lambda: "restarted, valkey-server pid" in caplog.text)
        assert serving_pid(server) == server.pid
    finally:
        dog.stop()
        server.stop()


def test_the_watchdog_gives_up_after_three_failed_restarts(tmp_path):
    server, dog, reasons = watched(tmp_path)
    try:
        server.binary = Path("/bin/false")  # from now on, every start fails
        os.kill(server.pid, signal.SIGKILL)
        wait_for(lambda: reasons)
        assert len(dog.restarts) == 3 and len(reasons) == 1
        assert "could not be kept running: 3 restarts within 60 s" in reasons[0]
        assert "exited with code 1 at start" in reasons[0]
        assert str(server.log_file) in reasons[0]
    finally:
        dog.stop()
        server.stop()


def serving_pid(server: EmbeddedRedis) -> int | None:
    """The pid of a server that has started and answered (server.json says so)."""
    try:
        return json.loads((server.redis_dir / "server.json").read_text())["pid"]
    except (OSError, ValueError):
        return None


def test_the_watchdog_gives_up_on_a_server_that_keeps_dying(tmp_path):
    server, dog, reasons = watched(tmp_path)
    try:
        for restarts in (1, 2, 3):
            pid = server.pid
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: len(dog.restarts) == restarts and serving_pid(server) not in
                     (pid, None) and serving_pid(server) == server.pid)
        os.kill(server.pid, signal.SIGKILL)  # a fourth death within the minute
        wait_for(lambda: reasons)
        assert "3 restarts within 60 s, and it ended (killed by SIGKILL)" in reasons[0]
    finally:
        dog.stop()
        server.stop()


def test_a_restart_that_hangs_ends_when_the_watchdog_stops(tmp_path):
    script, mode = valkey_wrapper(tmp_path)
    server = EmbeddedRedis(tmp_path / "data", binary=script)
    server.start()
    dog = Watchdog(server, on_give_up=lambda reason: None, interval=0.05).start()
    try:
        mode.write_text("hang")
        os.kill(server.pid, signal.SIGKILL)
        wait_for(lambda: dog.restarts and server.pid and server.exit_code() is None)
        hanging = server.pid  # a restart under way: it would wait 20 s for an answer
        stopper = threading.Thread(target=dog.stop)
        stopper.start()
        stopper.join(15)  # a stop that waited for the restart would take 20 s
        assert not stopper.is_alive(), "the watchdog's stop waited for the restart"
        assert gone(hanging, timeout=1), "the hanging server was left behind"
    finally:
        dog.stop()
        server.stop()
