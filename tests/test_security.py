"""Exposure rules: loopback by default, a password everywhere else, JSON-only writes."""
from __future__ import annotations

import base64

import pytest

from mltrack.__main__ import main
from mltrack.app import create_app
from mltrack.settings import Settings, SettingsError, check_exposure, is_loopback

ROUTES = [("get", "/"), ("get", "/health"), ("get", "/experiments"), ("get", "/status/" + "0" * 32),
          ("post", "/train"), ("get", "/_dash-layout"), ("post", "/_dash-update-component")]


def basic(password, user="anyone"):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.invalid", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_other_interfaces_need_a_password():
    with pytest.raises(SettingsError, match="MLTRACK_PASSWORD"):
        check_exposure(Settings(host="0.0.0.0"))
    check_exposure(Settings(host="0.0.0.0", password="s3cret"))
    check_exposure(Settings(host="127.0.0.1"))


def test_main_refuses_to_start_on_all_interfaces_without_a_password(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MLTRACK_PASSWORD", raising=False)
    assert main(["--host", "0.0.0.0", "--data-dir", str(tmp_path)]) == 2
    assert "MLTRACK_PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "redis").exists(), "nothing may start before the refusal"


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_needs_the_password_when_one_is_set(store, method, path):
    client = create_app(store, password="s3cret", loopback_only=False).test_client()
    kwargs = {"json": {}} if method == "post" else {}
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    r = getattr(client, method)(path, headers=basic("wrong"), **kwargs)
    assert r.status_code == 401
    r = getattr(client, method)(path, headers=basic("s3cret"), **kwargs)
    assert r.status_code != 401


def test_the_right_password_gets_through(store):
    client = create_app(store, password="s3cret", loopback_only=False).test_client()
    r = client.post("/train", json={"model": "mlp"}, headers=basic("s3cret"))
    assert r.status_code == 201
    assert store.counts()["total"] == 1


@pytest.mark.parametrize("host, allowed", [
    ("localhost:8050", True), ("127.0.0.1:8050", True), ("[::1]:8050", True), ("localhost", True),
    ("evil.example:8050", False), ("192.168.1.5:8050", False), ("localhost.evil.example", False),
])
def test_loopback_server_refuses_foreign_host_headers(client, host, allowed):
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    r = client.get("/health", headers={"Host": host})
    assert (r.status_code == 200) is allowed
    if not allowed:
        assert r.status_code == 403


def test_drive_by_text_plain_post_changes_nothing(client, store):
    r = client.post("/train", data='{"model": "mlp"}', content_type="text/plain")
    assert r.status_code == 415
    r = client.post("/train", data="model=mlp", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert store.counts()["total"] == 0
