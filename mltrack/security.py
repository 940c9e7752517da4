"""Request guards for every route, dashboard and API alike.

- Host header: on a loopback-only server, only loopback names are answered
  (loopback IP literals and `localhost` names), so a web page cannot reach
  mltrack through DNS rebinding: `127.0.0.1.evil.com` is a name its owner
  points wherever they like, so it is refused like any other foreign name.
- Password: HTTP basic auth with a constant-time comparison, when one is set.
- State-changing requests must carry `application/json`: a cross-site form or
  a `text/plain` fetch (the drive-by attack on local ML servers) cannot, and a
  page that tries `application/json` needs a CORS preflight we never grant.
- Body size: 64 KiB for the API; Dash's callback requests get more room. The
  HTTP server refuses anything over `SERVER_MAX_BODY` before reading it.
- Every answer forbids framing (clickjacking), MIME sniffing and leaking the
  URL in a Referer.
"""
from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, Response, jsonify, request

API_MAX_BODY = 64 * 1024
DASH_MAX_BODY = 4 * 1024 * 1024
# The HTTP server's own limit (waitress `max_request_body_size`): a larger
# declared body is answered 413 before it is read, so nobody makes mltrack
# buffer a gigabyte. The largest body any route takes is Dash's.
SERVER_MAX_BODY = DASH_MAX_BODY
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# No script-src here: Dash's page runs inline scripts, and a script policy would
# break it. These only stop other sites from framing or mis-reading answers.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _host_name(host_header: str) -> str:
    """The name of a Host header, without its port: `[::1]:8050` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8050
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback_name(name: str) -> bool:
    """`localhost`, `*.localhost`, or an IP literal of 127.0.0.0/8 or ::1.

    Browsers resolve `localhost` names to loopback themselves, so no DNS
    answer can point them elsewhere; any other name could be rebound.
    """
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a name, not an IP literal
        return False


def install_security(server: Flask, *, password: str | None, loopback_only: bool) -> None:
    server.config["MAX_CONTENT_LENGTH"] = API_MAX_BODY
    expected = password.encode() if password else None

    @server.before_request
    def guard():
        if loopback_only and not is_loopback_name(_host_name(request.host)):
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
        # a method the path does not take is a 405 (or an unknown path a 404)
        # from routing, whatever its body
        if request.method in _STATE_CHANGING and request.routing_exception is None:
            has_body = bool(request.content_length) or "chunked" in (
                request.headers.get("Transfer-Encoding", "").lower())
            if (request.method != "DELETE" or has_body) and request.mimetype != "application/json":
                return jsonify(error="state-changing requests must send Content-Type: "
                                     "application/json"), 415
        return None

    @server.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
