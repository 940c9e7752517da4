"""Property-based fuzz of every route, API and Dash alike, on the real store.

Each generated request is sent through Flask's test client, and its answer must:
- never be a 500 (bad input gets a 4xx that says why);
- be strict JSON whenever it says it is JSON (no NaN / Infinity);
- carry the headers against framing and sniffing;
- if it is a 4xx, have written nothing: Redis itself reports every write
  (keyspace notifications), and none may come from a refused request.

The answers are tallied by status code; the tally is printed at the end of the
module (run with `-s`) and written to `fuzz-tally.json` in pytest's temp dir.
"""
from __future__ import annotations

import json
import string
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dash_requests import CALLBACK_PATH, callback_body, dash_app, server_callbacks
from mltrack.params import MNIST, MODELS, OPTIMIZERS
from mltrack.security import SECURITY_HEADERS
from mltrack.store import Status, sort_keys
from sample_tasks import QUADRATIC

TALLY: Counter = Counter()
# Requests per test, each asserted by its test: 2,200 for the module.
API_EXAMPLES, DASH_EXAMPLES, PATH_EXAMPLES = 900, 900, 400
HUGE = 10**400  # a 401-digit JSON number: no float holds it
FIELDS = ["optimizer", "learning_rate", "num_epochs", "batch_size", "model", "momentum",
          "weight_decay", "seed", "lr_schedule"]
STATUSES = [s.value for s in Status]
# Every sort name of the two tasks the fuzz knows (a user's task registered beside MNIST).
LIST_SORTS = list(sort_keys([MNIST, QUADRATIC]))
TASKS = ["mnist", "quadratic"]

FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def tally(tmp_path_factory):
    TALLY.clear()
    yield TALLY
    total = sum(TALLY.values())
    line = {"requests": total, "by_status": {str(k): v for k, v in sorted(TALLY.items())}}
    path = tmp_path_factory.getbasetemp() / "fuzz-tally.json"
    path.write_text(json.dumps(line, indent=1))
    print(f"\nfuzz tally: {json.dumps(line)} (also in {path})")


# -- what a request carries ------------------------------------------------------------
def big_ints():
    return st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400),
                     st.sampled_from([2**31, 2**53 + 1, 2**63, -2**63 - 1, 10**19]))


scalars = st.one_of(
    st.none(), st.booleans(), big_ints(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.sampled_from(["", "adam", "mlp", "0.01", "NaN", "1e400", "\x00",
                                           "0" * 32, "<script>", "🦄", "\n"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)

def die(sides: int):
    """0..sides-1, evenly: st.integers leans towards its bounds, one_of to its first branch."""
    return st.sampled_from(range(sides))


def mostly(valid, invalid):
    """`valid` nine times in ten."""
    return die(10).flatmap(lambda n: invalid if n == 0 else valid)


# values near what each hyperparameter takes, so many requests pass validation
hp_values = {
    "optimizer": mostly(st.sampled_from(["adam", "adamw", "rmsprop", "adadelta"]),
                        st.sampled_from(["SGD", " adam ", "lbfgs", "sgd"])),
    "model": mostly(st.sampled_from(MODELS), st.just("resnet")),
    "learning_rate": mostly(st.floats(1e-6, 10), st.sampled_from([0, 11, -1, 1e-320, HUGE])),
    "momentum": mostly(st.just(0), st.sampled_from([0.9, 1, -0.5, HUGE])),
    "weight_decay": mostly(st.floats(0, 1), st.sampled_from([2, -HUGE])),
    "num_epochs": mostly(st.integers(1, 100), st.sampled_from([0, 101, 1.0, 2.5, HUGE])),
    "batch_size": mostly(st.integers(1, 8192), st.sampled_from([0, 8193])),
    "seed": mostly(st.integers(0, 2**31 - 1), st.sampled_from([-1, 2**31, HUGE])),
}


# the same for the user's task (quadratic): beta applies only with momentum
Q_FIELDS = list(QUADRATIC.params)
q_values = {
    "x0": mostly(st.floats(-10, 10), st.sampled_from([11, -HUGE, "3", None])),
    "lr": mostly(st.floats(1e-4, 1), st.sampled_from([0, 2, 1e-5, HUGE])),
    "steps": mostly(st.integers(1, 100), st.sampled_from([0, 101, 2.5, HUGE])),
    "method": mostly(st.sampled_from(["gd", "momentum", " GD "]), st.just("adam")),
    "beta": mostly(st.floats(0, 1), st.sampled_from([1.5, -1, HUGE])),
    "noisy": mostly(st.booleans(), st.sampled_from([0, 1, "true", None])),
}


def task_names():
    """The task a body names: mostly a known one, sometimes anything."""
    return mostly(st.sampled_from(TASKS), st.one_of(st.sampled_from(["", "cubic", "MNIST"]),
                                                    json_values))


@st.composite
def hyper_params(draw, task: object = "mnist"):
    fields, values = (Q_FIELDS, q_values) if task == "quadratic" else (FIELDS, hp_values)
    keys = draw(st.lists(st.sampled_from(fields), max_size=4, unique=True))
    keys += draw(mostly(st.just([]), st.lists(st.sampled_from(["lr", "", "epochs", "x0"]),
                                              min_size=1, max_size=1)))
    return {k: draw(mostly(values.get(k, json_values), json_values)) for k in keys}


@st.composite
def sweeps(draw, task: object = "mnist"):
    fields, values = (Q_FIELDS, q_values) if task == "quadratic" else (FIELDS, hp_values)
    optional = "beta" if task == "quadratic" else "momentum"
    axes = draw(st.lists(mostly(st.sampled_from([f for f in fields if f != optional]),
                                st.sampled_from(fields + ["lr"])), max_size=3, unique=True))
    return {k: draw(mostly(st.lists(values.get(k, json_values), min_size=1, max_size=3),
                           st.one_of(st.lists(values.get(k, json_values), max_size=3),
                                     json_values)))
            for k in axes}


raw_texts = mostly(
    st.sampled_from([
        "", "{", "null", "[]", '"x"', "{\"model\": NaN}", '{"seed": Infinity}',
        '{"learning_rate": ' + "9" * 400 + "}", "[" * 1000 + "]" * 1000,
        '{"hyper_params":' + '{"a":' * 800 + "1" + "}" * 801, "\ufeff{}", '{"seed": 1e400}',
        '{"sweep": {"seed": [' + "[" * 5000 + "]" * 5000 + "]}}", '{"hyper_params": {}, "sweep": '
        '{"learning_rate": [0.1, ' + "9" * 400 + "]}}"]),
    st.text(max_size=40))


@st.composite
def bodies(draw, route: str):
    kind = draw(die(10))
    if kind in (0, 9):
        return draw(raw_texts)
    if kind == 1:
        return json.dumps(draw(json_values))
    # half the bodies name a task (a known one mostly); the others are mnist's
    named = draw(st.booleans())
    task = draw(task_names()) if named else "mnist"
    if route == "/sweep":
        body = {"hyper_params": draw(hyper_params(task)), "sweep": draw(sweeps(task))}
        if named:
            body["task"] = task
        if draw(die(6)) == 0:
            body[draw(st.text(max_size=5))] = draw(json_values)
        return json.dumps(body)
    if route == "/train":
        hp = draw(hyper_params(task))
        body = {"hyper_params": hp} if draw(st.booleans()) else dict(hp)
        if named:
            body["task"] = task
        return json.dumps(body)
    return json.dumps(draw(st.one_of(st.just({}), json_values)))


# -- the store's own keys: the state requests act on, and the writes they cause ------------
class Writes:
    """Every write to `store`'s keys, as Redis announces it (keyspace notifications)."""

    def __init__(self, store):
        self.redis = store.redis
        self.previous = self.redis.config_get("notify-keyspace-events")["notify-keyspace-events"]
        self.redis.config_set("notify-keyspace-events", "KA")
        self.pubsub = self.redis.pubsub()
        db = self.redis.connection_pool.connection_kwargs.get("db", 0)
        self.pubsub.psubscribe(f"__keyspace@{db}__:{store.prefix}*")
        self.pubsub.subscribe("fuzz:marker")
        self.marks = 0

    def drain(self) -> list[str]:
        """The writes since the last drain: up to a marker published now."""
        self.marks += 1
        self.redis.publish("fuzz:marker", str(self.marks))
        events = []
        while True:
            message = self.pubsub.get_message(timeout=30)  # (returns when it comes)
            assert message is not None, "the marker never came back"
            if message["type"] == "message" and message["data"] == str(self.marks):
                return events
            if message["type"] == "pmessage" and message["data"] not in ("expired", "evicted"):
                events.append(f"{message['data']} {message['channel'].split(':', 1)[1]}")

    def close(self):
        self.pubsub.close()
        self.redis.config_set("notify-keyspace-events", self.previous)


@pytest.fixture
def writes(store):
    watcher = Writes(store)
    yield watcher
    watcher.close()


def _reject_constant(name):
    raise AssertionError(f"{name} in a JSON answer")


def send(client, writes, method: str, url: str, data=None,
         content_type: str = "application/json", headers=None):
    """One request and every check on its answer; returns the response."""
    writes.drain()
    r = client.open(url, method=method, data=data, headers=headers,
                    content_type=content_type if data is not None else None)
    TALLY[r.status_code] += 1
    what = f"{method} {url} {str(data)[:300]!r}"
    assert r.status_code < 500, f"{what} -> {r.status_code} {r.data[:500]!r}"
    if r.mimetype == "application/json" and r.status_code != 204 and method != "HEAD":
        json.loads(r.get_data(as_text=True), parse_constant=_reject_constant)
    for name in SECURITY_HEADERS:
        assert name in r.headers, (what, name)
    changed = writes.drain()
    if 400 <= r.status_code < 500:
        assert changed == [], f"{what} -> {r.status_code} but wrote {changed[:5]}"
    if r.status_code == 201:  # the watch on writes is alive: a job created is seen
        assert changed, f"{what} -> 201 but no write was seen"
    return r


# Draws never depend on the store's state (hypothesis replays them): a job is
# picked by a drawn number, and every draw is made whatever happens next.
def pick(known: list[str], n: int) -> str:
    return known[n % len(known)] if known else "0" * 32


iids = die(3).flatmap(lambda n: st.integers(0, 10**6).map(lambda i: ("known", i)) if n else (
    st.one_of(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
              st.text(max_size=40), st.sampled_from(["0" * 32 + "\n", "A" * 32]))))


def some_iid(draw, known: list[str]) -> str:
    drawn = draw(iids)
    return pick(known, drawn[1]) if isinstance(drawn, tuple) else drawn


def move_some_jobs(store, draw):
    """Now and then, a worker's doing: claim a job and end it, so every state is met."""
    act, worker, end, how = draw(st.tuples(
        die(4), die(4), st.booleans(),
        st.sampled_from([Status.DONE, Status.FAILED, Status.CANCELLED])))
    if act:
        return
    claim = store.claim(f"fuzz-{worker}", tasks={"mnist": MNIST, "quadratic": QUADRATIC})
    if claim is None:
        return
    epoch = store.get(claim.iid).epochs_done + 1  # a metric of each, so sorts meet values
    metrics = ({"loss": 1.0 / epoch, "x": 0.5} if claim.task == "quadratic" else
               {"train_loss": 0.5, "train_accuracy": 90.0, "test_loss": 0.4,
                "test_accuracy": 90.0 + worker})
    store.record_epoch(claim.iid, claim.attempt, {"epoch": epoch, "time_training": 1.0 * epoch,
                                                  **metrics})
    if end:
        store.finish(claim.iid, claim.attempt, how, error="fuzz")


# -- the fuzz ------------------------------------------------------------------------
def test_fuzz_the_api(client, store, writes):
    store.register_task(QUADRATIC)
    writes.drain()
    known: list[str] = []
    seen = sum(TALLY.values())

    @settings(FUZZ, max_examples=API_EXAMPLES)
    @given(st.data())
    def one_request(data):
        draw = data.draw
        move_some_jobs(store, draw)
        route = draw(st.sampled_from(["train", "sweep", "experiments", "status", "cancel",
                                      "retry", "delete", "workers", "health", "train", "sweep",
                                      "experiments", "tasks", "task"]))
        task = quote(str(draw(task_names())), safe="")
        iid = quote(some_iid(draw, known), safe="")
        slash = "/" if draw(die(10)) == 0 else ""
        method, path, body = {
            "train": ("POST", "/train", "/train"), "sweep": ("POST", "/sweep", "/sweep"),
            "experiments": ("GET", "/experiments", None), "status": ("GET", f"/status/{iid}", None),
            "cancel": ("POST", f"/experiments/{iid}/cancel", ""),
            "retry": ("POST", f"/experiments/{iid}/retry", ""),
            "delete": ("DELETE", f"/experiments/{iid}", None),
            "workers": ("GET", "/workers", None), "health": ("GET", "/health", None),
            "tasks": ("GET", "/tasks", None), "task": ("GET", f"/tasks/{task}", None),
        }[route]
        if draw(die(10)) == 0:  # the wrong method for the route
            method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                           "OPTIONS"]))
        query = ""
        if route == "experiments":
            words = list(LIST_SORTS) + STATUSES + ["asc", "desc", "-1", "1e3", "", "0x10",
                                                   "9223372036854775807", "9" * 30, "1" * 5000]
            words += TASKS + ["cubic"]
            args = draw(st.dictionaries(
                st.sampled_from(["sort", "order", "status", "limit", "offset", "q", "page",
                                 "task"]),
                die(4).flatmap(lambda n: [st.sampled_from(words), st.integers(-5, 2**64),
                                          st.integers(-5, 1100), st.text(max_size=30)][n].map(str)),
                max_size=4))
            query = "?" + urlencode(args)
        payload = draw(bodies(body)) if body is not None else None
        if method in ("POST", "PUT", "PATCH") and payload is None:
            payload = ""
        content_type = "application/json" if draw(die(10)) else draw(st.sampled_from(
            ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"]))
        r = send(client, writes, method, path + slash + query, payload, content_type)
        if r.status_code == 201:
            known.extend(r.json.get("iids") or [r.json["iid"]])

    one_request()
    assert sum(TALLY.values()) - seen >= API_EXAMPLES


def _value_for(prop: str, known: list[str]):
    """A value for a callback's input or state: often plausible, sometimes anything."""
    known_iid = st.integers(0, 10**6).map(lambda n: pick(known, n))
    rows = st.lists(st.fixed_dictionaries({
        "iid": st.one_of(known_iid, st.text(max_size=34)),
        "status": st.one_of(st.sampled_from(STATUSES), st.text(max_size=8))}), max_size=3)
    plausible = {
        "getRowsRequest": st.fixed_dictionaries(
            {"startRow": st.one_of(st.integers(-10, 300), big_ints(), json_values),
             "endRow": st.one_of(st.integers(-10, 400), json_values)},
            optional={"sortModel": st.lists(st.fixed_dictionaries(
                {"colId": st.one_of(st.sampled_from(list(LIST_SORTS)), st.text(max_size=8)),
                 "sort": st.sampled_from(["asc", "desc", "up", None])}), max_size=2)}),
        "selectedRows": rows,
        "value": st.one_of(st.sampled_from(STATUSES + list(MODELS) + list(OPTIMIZERS) + TASKS
                                           + ["gd", "momentum", "true", "false"]),
                           st.lists(st.one_of(st.sampled_from(list(MODELS) + list(OPTIMIZERS)),
                                              known_iid), max_size=2),
                           st.floats(-6, 2),
                           st.sampled_from(["0.01", "0.1, 0.01", "5", "x", "1e400", "9" * 400,
                                            "-0", " 64 "])),
        "search_value": st.text(max_size=20),
        "n_intervals": st.integers(0, 10**6), "n_clicks": st.integers(0, 10),
        "submit_n_clicks": st.integers(0, 10), "data": st.integers(0, 100),
    }.get(prop, json_values)
    return st.one_of(plausible, plausible, plausible, json_values)


@st.composite
def callback_requests(draw, server, keys, known):
    key = draw(st.sampled_from(keys))
    cb = dash_app(server).callback_map[key]
    deps = cb["inputs"] + cb["state"]
    values = {f"{d['id']}.{d['property']}": draw(_value_for(d["property"], known))
              for d in deps if not isinstance(d["id"], dict)}
    inputs = [f"{d['id']}.{d['property']}" for d in cb["inputs"]]
    changed = draw(st.lists(st.sampled_from(inputs), max_size=2, unique=True))
    body = callback_body(server, key, values, changed)
    for part in ("inputs", "state"):  # the form's widgets (pattern ids) get values too
        for entry in body.get(part, []):
            for item in entry if isinstance(entry, list) else [entry]:
                if isinstance(item.get("id"), dict):
                    item["value"] = draw(_value_for(item["property"], known))
    if draw(die(4)) == 0 and any(isinstance(e, list) for e in body["inputs"]):
        # the user's task selected, with its own widgets or the ones of another task
        task = draw(st.sampled_from(TASKS))
        fields = Q_FIELDS if draw(st.booleans()) else FIELDS
        for entry in [*body["inputs"], *body.get("state", [])]:
            if isinstance(entry, list) and entry and entry[0]["id"].get("type") == "param":
                entry[:] = [{"id": {"type": "param", "task": task, "field": f, "kind": "text"},
                             "property": "value", "value": draw(_value_for("value", known))}
                            for f in fields]
            elif isinstance(entry, dict) and entry.get("id") == "form-task":
                entry["value"] = task
    mutation = draw(die(6))
    if mutation == 0:  # one part of the body replaced or dropped
        part = draw(st.sampled_from(["output", "outputs", "inputs", "state", "changedPropIds"]))
        if draw(st.booleans()):
            body.pop(part, None)
        else:
            body[part] = draw(json_values)
    elif mutation == 1 and body["inputs"]:  # one dependency's id or property changed
        n = draw(st.integers(0, len(body["inputs"]) - 1))
        if isinstance(body["inputs"][n], dict):
            body["inputs"][n][draw(st.sampled_from(["id", "property"]))] = draw(json_values)
    elif mutation == 2:
        return json.dumps(draw(json_values))
    elif mutation == 3 and draw(die(4)) == 0:
        return draw(raw_texts)
    return json.dumps(body)


def test_fuzz_the_dash_callbacks(app, client, store, writes):
    store.register_task(QUADRATIC)
    keys = server_callbacks(app)
    known: list[str] = []
    for n in range(3):
        r = client.post("/train", json={"seed": n, "model": "mlp"})
        known.append(r.json["iid"])
        r = client.post("/train", json={"task": "quadratic", "hyper_params": {"x0": n}})
        known.append(r.json["iid"])
    seen = sum(TALLY.values())

    @settings(FUZZ, max_examples=DASH_EXAMPLES)
    @given(st.data())
    def one_request(data):
        move_some_jobs(store, data.draw)
        body = data.draw(callback_requests(app, keys, known))
        send(client, writes, "POST", CALLBACK_PATH, body)

    one_request()
    assert sum(TALLY.values()) - seen >= DASH_EXAMPLES


segments = st.one_of(st.sampled_from(["experiments", "status", "train", "api", "_dash-layout",
                                      "assets", "_dash-component-suites", "dash", "cancel",
                                      "..", ".", "%2e%2e", "index.html", "_favicon.ico"]),
                     st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1,
                             max_size=12),
                     st.text(min_size=1, max_size=6).map(lambda t: quote(t, safe="")))


def test_fuzz_every_other_path(app, client, store, writes):
    page = client.get("/").get_data(as_text=True)
    suite_files = [s for s in page.split('"') if s.startswith("/_dash-component-suites/")]
    seen = sum(TALLY.values())

    @settings(FUZZ, max_examples=PATH_EXAMPLES)
    @given(st.data())
    def one_request(data):
        draw = data.draw
        kind = draw(die(5))
        if kind == 0:
            path = draw(st.sampled_from(["/", "/_dash-layout", "/_dash-dependencies",
                                         "/_favicon.ico", "/_reload-hash", "/assets/style.css",
                                         *suite_files]))
        elif kind == 1:  # component suites: real packages, unreal files and the reverse
            package = draw(st.sampled_from(["dash", "dash_ag_grid", "plotly", "nonexistent",
                                            "os", "mltrack"]))
            rest = "/".join(draw(st.lists(segments, min_size=1, max_size=3)))
            path = f"/_dash-component-suites/{package}/{rest}"
        else:
            path = "/" + "/".join(draw(st.lists(segments, max_size=4)))
        method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE",
                                       "PATCH", "OPTIONS"]))
        payload = json.dumps(draw(json_values)) if method in ("POST", "PUT", "PATCH") else None
        send(client, writes, method, path, payload)

    one_request()
    assert sum(TALLY.values()) - seen >= PATH_EXAMPLES



# -- tracked runs: scripts that report over REST --------------------------------------
TRACK_EXAMPLES = 400
metric_names = mostly(st.sampled_from(["loss", "val_acc", "train_loss", "acc", "x"]),
                      st.sampled_from(["Loss", "", "epoch", "best_loss", "lr", "a" * 41, "é"]))
metric_values = mostly(st.floats(-1e6, 1e6), st.sampled_from([None, "0.1", HUGE, -HUGE, True]))
param_values = mostly(st.one_of(st.floats(-10, 10), st.integers(-5, 5), st.booleans(),
                                st.sampled_from(["adam", "SGD", " sgd "])),
                      st.one_of(st.sampled_from([None, [], {}, HUGE, "x" * 300]), json_values))


@st.composite
def run_bodies(draw, kind: str, token: str):
    """A tracked-run body: mostly plausible, sometimes broken in one place."""
    if draw(die(12)) == 0:
        return draw(raw_texts)
    body: dict = {"token": mostly(st.just(token), st.sampled_from(["", "wrong", 5, None]))}
    body["token"] = draw(body["token"])
    if kind == "start":
        body = {"task": draw(mostly(st.sampled_from(["script", "other", "mnist", "quadratic"]),
                                    st.one_of(st.sampled_from(["", "Bad Name"]), json_values))),
                "hyper_params": draw(st.dictionaries(
                    mostly(st.sampled_from(["lr", "opt", "layers", "bn", "lr_schedule", "x0"]),
                           st.sampled_from(["Lr", "epoch", "loss", ""])),
                    param_values, max_size=3)),
                "metrics": draw(st.dictionaries(metric_names, mostly(
                    st.sampled_from(["min", "max"]), json_values), max_size=2)),
                "lease": draw(mostly(st.floats(1, 100), st.sampled_from([0, -1, "60", HUGE])))}
    elif kind == "log":
        body["epoch"] = draw(mostly(st.integers(1, 6), st.sampled_from([0, -1, 1.5, "2", HUGE])))
        body["metrics"] = draw(st.dictionaries(metric_names, metric_values, max_size=3))
    elif kind == "heartbeat" and draw(st.booleans()):
        body["progress"] = draw(mostly(st.fixed_dictionaries(
            {"done": st.integers(0, 10), "total": st.integers(1, 10)}), json_values))
    elif kind == "finish":
        body["status"] = draw(mostly(st.sampled_from(["done", "failed"]), json_values))
        if draw(st.booleans()):
            body["error"] = draw(mostly(st.text(max_size=30), json_values))
    if draw(die(10)) == 0:
        body[draw(st.sampled_from(["extra", "step", "task"]))] = draw(json_values)
    return json.dumps(body)


def test_fuzz_the_tracked_run_routes(client, store, writes):
    store.register_task(QUADRATIC)
    writes.drain()
    runs: dict[str, str] = {}  # iid -> token
    accepted: Counter = Counter()  # 2xx answers by kind of request
    seen = sum(TALLY.values())

    @settings(FUZZ, max_examples=TRACK_EXAMPLES)
    @given(st.data())
    def one_request(data):
        draw = data.draw
        kind = draw(st.sampled_from(["start", "log", "log", "heartbeat", "finish", "cancel"]))
        known = list(runs)
        iid = some_iid(draw, known)
        token = runs.get(iid, "no-token")
        if kind == "start":
            r = send(client, writes, "POST", "/runs", draw(run_bodies("start", token)))
            if r.status_code == 201:
                runs[r.json["iid"]] = r.json["token"]
                accepted[kind] += 1
            return
        if kind == "cancel":
            send(client, writes, "POST", f"/experiments/{quote(iid, safe='')}/cancel", "")
            return
        r = send(client, writes, "POST", f"/runs/{quote(iid, safe='')}/{kind}",
                 draw(run_bodies(kind, token)))
        assert r.status_code in (200, 400, 403, 404, 409, 413, 415), r.status_code
        accepted[kind] += r.status_code == 200

    one_request()
    assert sum(TALLY.values()) - seen >= TRACK_EXAMPLES
    # the routes did their work too, not only refuse: runs started and were written to
    assert accepted["start"] > 0 and accepted["log"] + accepted["heartbeat"] > 0, accepted
