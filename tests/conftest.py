"""Fixtures: one real embedded valkey-server for the session, a clean store per test."""
from __future__ import annotations

import pytest
import redis

from mltrack.app import create_app
from mltrack.embedded import EmbeddedRedis
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
