"""GET /openapi.json: the document, and schemathesis run against a live mltrack.

schemathesis (its `st run` command) reads the document, generates requests for
every operation (its coverage, fuzzing and stateful phases, schema-violating
requests included) and checks each answer: no 5xx, a documented status code,
a body that fits the documented schema, schema-violating data refused. The
server counts what it answered, so the figures printed are the server's.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from importlib.metadata import entry_points

import pytest

from helpers import serving
from mltrack.api_spec import ROUTES
from mltrack.app import create_app
from mltrack.openapi import document

MAX_EXAMPLES = 25  # per operation and phase: about 25 s on a 2-core machine
# One worker: with two, CPython 3.11.7 at times fails inside hypothesis with
# "SystemError: AST constructor recursion depth mismatch" (a CPython bug with
# threads; schemathesis reports it as an error of its own run).
# A 413 (a body over 64 KiB) is a refusal too, which schemathesis does not
# count as one by default.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "409", "413", "415"]
"""
# Checks left out, and why:
# - positive_data_acceptance: a request that fits the document may still be
#   refused for what only the database knows (a task that is not registered,
#   a sort name another task has, a job that is not failed), always with a
#   documented 4xx naming the field;
# - unsupported_method, allow_header_conformance: methods the document does
#   not list (PUT /health, OPTIONS); see the notes (security.py and app.py,
#   not the API's files).
EXCLUDED = "positive_data_acceptance,unsupported_method,allow_header_conformance"


class Counting:
    """WSGI middleware that counts the answers by status code, and by
    (method, path with iids as {iid}, status)."""

    def __init__(self, app):
        self.app, self.statuses, self.routes = app, {}, {}
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = re.sub(r"/[0-9a-f]{32}(?=/|$)", "/{iid}", environ.get("PATH_INFO", ""))

        def start(status, headers, exc_info=None):
            code = int(status.split()[0])
            key = (environ["REQUEST_METHOD"], path, code)
            with self.lock:
                self.statuses[code] = self.statuses.get(code, 0) + 1
                self.routes[key] = self.routes.get(key, 0) + 1
            return start_response(status, headers, exc_info)
        return self.app(environ, start)


@pytest.fixture
def counted_app(store):
    counter = Counting(create_app(store))
    with serving(counter) as url:  # its teardown in the order that holds (helpers)
        yield url, counter


def test_the_document_describes_every_api_route(app):
    doc = app.test_client().get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, re.sub(r"<(\w+)>", r"{\1}", rule.rule)) for rule in app.url_map.iter_rules()
              for m in rule.methods - {"HEAD", "OPTIONS"}
              if rule.endpoint != "static" and not rule.endpoint.startswith(("_", "/"))}
    assert documented == served
    ops = {op["operationId"]: op for ops in doc["paths"].values() for op in ops.values()}
    start = ops["start_run"]
    body = start["requestBody"]["content"]["application/json"]["schema"]
    assert body is ROUTES["start_run"].body or body == ROUTES["start_run"].body
    assert set(start["responses"]) >= {"201", "400", "413", "415", "503"}
    assert start["responses"]["201"]["links"]["log"]["operationId"] == "log_run"
    listing = {p["name"]: p for p in ops["experiments"]["parameters"]}
    csv = {p["name"]: p for p in ops["experiments_csv"]["parameters"]}
    assert set(listing) == set(csv) == {"sort", "order", "status", "task", "q", "limit", "offset",
                                        "tag", "search"}
    assert listing["limit"]["schema"]["maximum"] == 1000


def test_the_document_is_the_validators_own_rules(client, store):
    """Change a declared rule and the server and the document change together."""
    limit = ROUTES["experiments"].query["limit"]
    old = limit["maximum"]
    try:
        limit["maximum"] = 5  # the declarations are the one copy both read
        assert client.get("/experiments?limit=6").status_code == 400
        doc = client.get("/openapi.json").json
        params = doc["paths"]["/experiments"]["get"]["parameters"]
        assert next(p for p in params if p["name"] == "limit")["schema"]["maximum"] == 5
    finally:
        limit["maximum"] = old
    assert client.get("/experiments?limit=6").status_code == 200


def test_document_is_strict_json_and_the_same_as_built(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.is_json
    assert json.loads(r.get_data(as_text=True)) == json.loads(json.dumps(document()))


def test_the_document_passes_the_openapi_validator():
    from openapi_spec_validator import validate
    validate(document())  # raises, naming the part at fault


def _schemathesis() -> list[str]:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "st"]
    module, func = script.value.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func} as st; "
                                  "sys.exit(st())"]


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(counted_app,
                                                                          tmp_path):
    url, counter = counted_app
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    run = subprocess.run(
        [*_schemathesis(), "--config-file", str(config), "--no-color", "run",
         f"{url}/openapi.json", "--checks", "all", "--exclude-checks", EXCLUDED,
         "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--seed", "11",
         "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = run.stdout + run.stderr
    summary = out[out.rfind("SUMMARY"):]
    tested = re.search(r"Tested: (\d+)", summary)
    cases = re.search(r"(\d+) generated", summary)
    requests = sum(counter.statuses.values())
    server_errors = sum(n for code, n in counter.statuses.items() if code >= 500)
    print(f"\nschemathesis: {tested and tested.group(1)} operations, "
          f"{cases and cases.group(1)} test cases, {requests} requests answered "
          f"(by status: {dict(sorted(counter.statuses.items()))}), "
          f"{server_errors} server errors, exit {run.returncode}")
    assert run.returncode == 0, out[-6000:]
    # every operation but GET /openapi.json, which schemathesis reads and
    # skips (test_document_is_strict_json_and_the_same_as_built covers it)
    assert tested and int(tested.group(1)) == len(ROUTES) - 1
    assert server_errors == 0 and requests > 10 * len(ROUTES)
    # tracked runs were started, and the document's links from POST /runs
    # hand their iid and token to the writes that follow (how many of those
    # the stateful phase reaches varies: printed, not asserted)
    assert counter.routes.get(("POST", "/runs", 201), 0) > 0
    print("tracked-run writes answered 200:",
          {p: n for (m, p, code), n in sorted(counter.routes.items())
           if code == 200 and p.startswith("/runs/")})


def test_the_q_parameter_says_the_query_language_the_store_reads(client):
    """Every example the description of `q` gives finds a job it should."""
    (description,) = {ROUTES[r].query["q"]["description"] for r in ("experiments",
                                                                     "experiments_csv")}
    examples = re.findall(r"`([^`]+)`", description)
    assert len(examples) >= 3 and "status:" not in description
    r = client.post("/runs", json={"task": "mnist", "hyper_params": {"optimizer": "adam"}})
    iid, token = r.json["iid"], r.json["token"]
    client.post(f"/runs/{iid}/log", json={"token": token, "epoch": 1, "metrics": {
        "test_accuracy": 98.0, "test_loss": 0.1, "train_loss": 0.1, "train_accuracy": 99.0}})
    assert client.post(f"/runs/{iid}/finish", json={"token": token, "status": "done"}).json
    for q in examples:
        r = client.get("/experiments", query_string={"q": q})
        assert r.status_code == 200 and [j["iid"] for j in r.json["results"]] == [iid], q


def test_a_request_the_document_allows_without_a_body_is_not_refused_for_lacking_one(
        client, store):
    """Every POST must send Content-Type: application/json (security.py, against
    cross-site forms), so the document asks each for a body; none is optional."""
    from mltrack.store import Status
    iid = store.create({})
    store.cancel(iid)
    assert store.get(iid).status is Status.CANCELLED
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            if method != "post":
                continue
            assert op["requestBody"]["required"] is True, (method, path)
            assert "application/json" in op["requestBody"]["content"]
    r = client.post(f"/experiments/{iid}/retry")  # no body, no Content-Type
    assert r.status_code == 415
    r = client.post(f"/experiments/{iid}/retry", content_type="application/json")
    assert r.status_code == 201  # an empty body with the header is taken


@pytest.mark.parametrize("route", ["train", "sweep", "start_run"])
def test_a_body_names_the_task_name_rule(route):
    from mltrack.task import TASK_NAME
    task = ROUTES[route].body["properties"]["task"]
    assert task["pattern"] == f"^{TASK_NAME.pattern}$"
