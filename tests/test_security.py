"""Exposure rules: loopback by default, a password everywhere else, JSON-only writes."""
from __future__ import annotations

import base64
import socket
import threading

import pytest

from mltrack.__main__ import main
from mltrack.app import create_app
from mltrack.security import SERVER_MAX_BODY
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


HOSTS = [
    ("localhost:8050", True), ("127.0.0.1:8050", True), ("[::1]:8050", True), ("localhost", True),
    ("127.8.0.1:8050", True), ("127.255.255.254", True), ("[::1]", True),
    ("LocalHost:8050", True), ("app.localhost:8050", True),
    ("evil.example:8050", False), ("192.168.1.5:8050", False), ("localhost.evil.example", False),
    # names that only look like loopback: their owner's DNS says where they go
    ("127.0.0.1.evil.com:8050", False), ("127.0.0.1.evil.com", False), ("127.evil.com", False),
    ("127.0.0.1.nip.io", False), ("[::1].evil.com", False), ("[::2]:8050", False),
    ("0.0.0.0:8050", False), ("128.0.0.1", False), ("", False),
]


@pytest.mark.parametrize("host, allowed", HOSTS)
def test_loopback_server_refuses_foreign_host_headers(client, host, allowed):
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    r = client.get("/health", headers={"Host": host})
    assert (r.status_code == 200) is allowed
    if not allowed:
        assert r.status_code == 403 and r.is_json and "loopback" in r.json["error"]


@pytest.mark.parametrize("host", ["127.0.0.1.evil.com:8050", "127.evil.com"])
def test_a_rebound_name_starting_with_127_cannot_queue_a_job(client, store, host):
    # The reproduction: this got 201 and a queued job.
    r = client.post("/train", json={"hyper_params": {"model": "mlp"}}, headers={"Host": host})
    assert r.status_code == 403
    assert store.counts()["total"] == 0


ANSWERS = [  # one of each kind: page, API, Dash, static file, every error the guards give
    ("get", "/", {}, 200), ("get", "/health", {}, 200), ("get", "/_dash-layout", {}, 200),
    ("get", "/_dash-dependencies", {}, 200), ("get", "/assets/style.css", {}, 200),
    ("get", "/_favicon.ico", {}, 200), ("post", "/_dash-update-component", {"json": {}}, 400),
    ("post", "/train", {"json": {"model": "x"}}, 400), ("get", "/nope", {}, 404),
    ("get", "/status/" + "0" * 32, {}, 404), ("put", "/train", {"json": {}}, 405),
    ("post", "/train", {"data": "{}", "content_type": "text/plain"}, 415),
    ("post", "/train", {"data": "x" * 70_000, "content_type": "application/json"}, 413),
    ("get", "/health", {"headers": {"Host": "evil.example"}}, 403),
]


@pytest.mark.parametrize("method, path, kwargs, status", ANSWERS)
def test_every_answer_forbids_framing_and_sniffing(client, method, path, kwargs, status):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    # no script policy: Dash's page runs inline scripts (the browser tests load it)
    assert "script-src" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_a_401_carries_the_headers_too(store):
    client = create_app(store, password="s3cret", loopback_only=False).test_client()
    r = client.get("/")
    assert r.status_code == 401 and r.headers["X-Frame-Options"] == "DENY"


def _raw_post(url: str, path: str, head: str, chunks) -> bytes:
    """Send a request by hand, reading the answer while sending; returns the answer.

    The reader runs alongside: a server that refuses early closes the connection,
    and what we still send then may reset it before a late read sees the answer.
    """
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    answer = bytearray()

    def read():
        try:
            while data := sock.recv(65536):
                answer.extend(data)
        except OSError:  # reset by the server after its answer, or our timeout
            pass

    reader = threading.Thread(target=read)
    reader.start()
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Content-Type: application/json\r\n{head}\r\n".encode())
        for chunk in chunks:
            sock.sendall(chunk)
    except OSError:  # the server closed the connection after refusing: what we want
        pass
    reader.join(15)
    sock.close()
    return bytes(answer)


@pytest.mark.parametrize("path", ["/train", "/_dash-update-component"])
def test_a_huge_declared_body_is_refused_without_being_read(live_app, store, path):
    # 300 MB declared, 64 KiB sent: an answer can only come from a server that
    # refused on the header (waitress would otherwise wait for all of it, 1 GiB max).
    answer = _raw_post(live_app, path, f"Content-Length: {300 * 1024 * 1024}\r\n",
                       [b"[" * 65536])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert store.counts()["total"] == 0


@pytest.mark.parametrize("path", ["/train", "/_dash-update-component"])
def test_a_chunked_body_is_cut_off_at_the_servers_limit(live_app, store, path):
    chunk = b"%x\r\n" % 65536 + b"[" * 65536 + b"\r\n"
    n = SERVER_MAX_BODY // 65536 + 16  # past the limit, never ending
    answer = _raw_post(live_app, path, "Transfer-Encoding: chunked\r\n", [chunk] * n)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert store.counts()["total"] == 0


def test_drive_by_text_plain_post_changes_nothing(client, store):
    r = client.post("/train", data='{"model": "mlp"}', content_type="text/plain")
    assert r.status_code == 415
    r = client.post("/train", data="model=mlp", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert store.counts()["total"] == 0


def test_a_method_a_path_does_not_take_is_405_whatever_its_body(client):
    # the JSON-only rule guards the routes that change state; a method no
    # route takes is routing's answer (it was 415 before)
    r = client.put("/health", data="x", content_type="text/plain")
    assert r.status_code == 405 and "error" in r.get_json()
    r = client.post("/train", data="x", content_type="text/plain")
    assert r.status_code == 415
