"""Fixtures: one real embedded valkey-server for the session, a clean store per test."""
from __future__ import annotations

import shutil
import threading

import pytest
import redis

from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis
from mltrack.security import SERVER_MAX_BODY
from mltrack.store import Store


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("db")) as server:
        yield server


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def store(redis_client):
    return Store(redis_client, prefix="test:")


@pytest.fixture
def app(store):
    server = create_app(store)
    server.config["TESTING"] = True
    return server


@pytest.fixture
def client(app):
    return app.test_client()


def pytest_setup_options():
    """Chromium for dash_duo: Debian's, headless, as root in a container."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1280,800"):
        options.add_argument(flag)
    return options


@pytest.fixture
def live_app(store):
    """The real app (dashboard + API) on waitress, on a free loopback port."""
    import waitress

    server = waitress.create_server(create_app(store), host="127.0.0.1", port=0, threads=8,
                                    max_request_body_size=SERVER_MAX_BODY)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    # Requests still in flight (the browser polls until its fixture ends) finish
    # first, before the store's fixtures flush the database under them, and
    # before close() closes the server's wake-up pipe: a request thread that
    # ends later writes b"x" to that file descriptor number, which by then may
    # be a new Redis connection's socket ("unknown command 'x*8'" at teardown).
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    server.close()
    thread.join(5)
