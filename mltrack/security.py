"""Request guards for every route, dashboard and API alike.

- Host header: on a loopback-only server, only loopback names are answered,
  so a web page cannot reach mltrack through DNS rebinding.
- Password: HTTP basic auth with a constant-time comparison, when one is set.
- State-changing requests must carry `application/json`: a cross-site form or
  a `text/plain` fetch (the drive-by attack on local ML servers) cannot, and a
  page that tries `application/json` needs a CORS preflight we never grant.
- Body size: 64 KiB for the API; Dash's callback requests get more room.
"""
from __future__ import annotations

import hmac

from flask import Flask, jsonify, request

API_MAX_BODY = 64 * 1024
DASH_MAX_BODY = 4 * 1024 * 1024
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8050
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _loopback_name(name: str) -> bool:
    return name in _LOOPBACK_NAMES or name.startswith("127.") or name.endswith(".localhost")


def install_security(server: Flask, *, password: str | None, loopback_only: bool) -> None:
    server.config["MAX_CONTENT_LENGTH"] = API_MAX_BODY
    expected = password.encode() if password else None

    @server.before_request
    def guard():
        if loopback_only and not _loopback_name(_host_name(request.host)):
            return jsonify(error="this mltrack serves this machine only "
                                 "(Host header is not a loopback name)"), 403
        if expected is not None:
            auth = request.authorization
            given = (auth.password or "").encode() if auth and auth.type == "basic" else b""
            if not hmac.compare_digest(given, expected):
                return (jsonify(error="authentication required (HTTP basic auth, "
                                      "password = MLTRACK_PASSWORD)"),
                        401, {"WWW-Authenticate": 'Basic realm="mltrack", charset="UTF-8"'})
        if request.path.startswith("/_dash-"):
            request.max_content_length = DASH_MAX_BODY
        if request.method in _STATE_CHANGING:
            has_body = bool(request.content_length) or "chunked" in (
                request.headers.get("Transfer-Encoding", "").lower())
            if (request.method != "DELETE" or has_body) and request.mimetype != "application/json":
                return jsonify(error="state-changing requests must send Content-Type: "
                                     "application/json"), 415
        return None
