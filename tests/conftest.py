"""Fixtures: one real embedded valkey-server for the session, a clean store per test."""
from __future__ import annotations

import shutil

import pytest
import redis

from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis
from mltrack.store import Store

from helpers import serving


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


# dash_duo's own waits (wait_for_text_to_equal, wait_for_element...) give up after
# 10 s: a busy 2-core CI machine running chromium, waitress and the suite can take
# longer than that for a callback's round trip. The same fixture, waiting 30 s.
BROWSER_WAIT_S = 30


@pytest.fixture
def dash_duo(request, dash_thread_server, tmpdir):
    from dash.testing.composite import DashComposite

    with DashComposite(
        server=dash_thread_server,
        browser=request.config.getoption("webdriver"),
        remote=request.config.getoption("remote"),
        remote_url=request.config.getoption("remote_url"),
        headless=request.config.getoption("headless"),
        options=request.config.hook.pytest_setup_options(),
        download_path=tmpdir.mkdir("download").strpath,
        percy_assets_root=request.config.getoption("percy_assets"),
        percy_finalize=request.config.getoption("nopercyfinalize"),
        pause=request.config.getoption("pause"),
        wait_timeout=BROWSER_WAIT_S,
    ) as dc:
        yield dc


@pytest.fixture
def live_app(store):
    """The real app (dashboard + API) on waitress, on a free loopback port."""
    with serving(create_app(store)) as url:
        yield url
