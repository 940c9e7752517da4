"""Each REST route declared once: its query parameters, body and answers as JSON Schema.

The API validates every request against these declarations (`query_args`,
`body_of`), and openapi.py builds GET /openapi.json from the very same
objects, so the document cannot drift from what the server takes. A rule a
JSON Schema cannot say (a task's own hyperparameter rules, a sort name that
depends on the task) is checked by the route after these, and the document
says where to find it (GET /tasks/{name}).

A task's hyperparameters are described generically here (an object of
numbers, strings and booleans): each task's exact rules (bounds, options,
`when`) are its schema at GET /tasks/{name}, and they change at run time as
workers and tracked scripts register tasks.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import jsonschema

from mltrack.task import NAME, json_type
from mltrack.task import TASK_NAME as TASK_NAME_RULE

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Far beyond any real listing, and well inside what Redis takes as a range.
MAX_OFFSET = 10**9
# A tracked task's size: every log rewrites its registry entry and GET /tasks
# shows it whole, so a script cannot grow it without bound (a real experiment
# has a few dozen of each). Also the most one body may name.
MAX_PARAMS = 64
MAX_METRICS = 64
STATUSES = ("waiting", "running", "done", "failed", "cancelled", "pruned")
IID_PATTERN = "^[0-9a-f]{32}$"
TASK_NAME_WORDS = "lower case letters, digits, '_', '.' and '-' (a letter first, at most 64)"


class BadRequest(ValueError):
    """A request-level rule broke (not a hyperparameter); `field` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def listed(names: Any, most: int = 20) -> str:
    """Names for an error message: the first `most`, then how many more (a
    task may have hundreds of sort names; a message is read, not searched)."""
    names = [str(n) for n in names]
    shown = ", ".join(n[:80] for n in names[:most])
    return shown if len(names) <= most else f"{shown}, ... {len(names) - most} more"


# -- pieces the declarations share -------------------------------------------------
def nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


SCALAR = {"type": ["number", "string", "boolean"]}
HYPER_PARAMS = {
    "type": "object", "additionalProperties": SCALAR,
    "description": "hyperparameter name -> value; the task's schema (GET /tasks/{name}) "
                   "says which names, types and bounds it takes"}
TASK_NAME = {"type": "string", "title": "a task's name",
             "pattern": f"^{TASK_NAME_RULE.pattern}$",
             "description": f"a task's name (GET /tasks): {TASK_NAME_WORDS}; none: mnist"}
IID = {"type": "string", "pattern": IID_PATTERN, "description": "a job's id (32 hex digits)"}
TOKEN = {"type": "string", "minLength": 1, "maxLength": 200,
         "description": "the secret that POST /runs answered"}
METRIC_NAME = {"type": "string", "pattern": f"^{NAME.pattern}$",
               "description": "lower case letters, digits and _, a letter first; "
                              "not a name mltrack uses itself nor best_*"}

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string", "description": "what went wrong, for people"},
                   "field": {"type": "string", "description": "the field or parameter at fault"},
                   "current_status": {"type": "string",
                                      "description": "409: the job's status now"}}}

JOB = {
    "type": "object",
    "required": ["iid", "status", "task", "hyper_params", "created", "attempts", "epochs_done"],
    "properties": {
        "iid": IID, "status": {"type": "string", "enum": list(STATUSES)},
        "task": {"type": "string"}, "hyper_params": HYPER_PARAMS,
        "time_added": nullable("string"), "created": {"type": "number"},
        "started": nullable("number"), "finished": nullable("number"),
        "attempts": {"type": "integer"}, "epochs_done": {"type": "integer"},
        "num_epochs": nullable("integer"), "error": nullable("string"),
        "cancel_requested": {"type": "boolean"}, "worker": nullable("string"),
        "device": nullable("string"), "precision": nullable("string"),
        "progress": {"type": ["object", "null"]}, "retry_of": nullable("string"),
        "runtime": nullable("number"),
        "tracked": {"type": "boolean", "description": "a script outside the queue runs it"},
        "search": {"type": ["string", "null"], "description": "the search it is a trial of"},
        "trial": {"type": ["integer", "null"], "description": "its trial number in the search"},
        # runmeta: the user's tags and note (PUT /experiments/{iid}/tags, .../note)
        "tags": {"type": "array", "items": {"type": "string"},
                 "description": "the run's tags, lower case, in the order added"},
        "note": {"type": ["string", "null"], "description": "the run's note"}},
    # each metric of its task under its name (last value) and best_<name>
    "additionalProperties": nullable("number"),
}


def with_properties(base: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {**base, "properties": {**base["properties"], **extra}}


STATUS_ANSWER = with_properties(
    JOB, traceback=nullable("string"),
    in_update={"type": "object", "description": "per-epoch metrics as columns",
               "additionalProperties": {"type": "array", "items": nullable("number")}})

TASK = {
    "type": "object", "required": ["name", "params", "metrics"],
    "properties": {
        "name": {"type": "string"}, "description": {"type": "string"},
        "epochs": nullable("string"), "params": {"type": "object"},
        "metrics": {"type": "array", "items": {"type": "object"}},
        "primary": nullable("string"), "workers": {"type": "integer"},
        "waiting": {"type": "integer"}, "note": nullable("string"),
        "tracked": {"type": "boolean",
                    "description": "its schema comes from tracked runs (POST /runs)"}}}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


# -- query parameters ---------------------------------------------------------------
LISTING_QUERY: dict[str, dict[str, Any]] = {
    "sort": {"type": "string", "default": "created",
             "description": "created, epochs, runtime, status, a hyperparameter, a metric "
                            "(last value) or best_<metric>, of the tasks listed"},
    "order": {"type": "string", "enum": ["asc", "desc"],
              "description": "default: best first (desc for created and maximised metrics)"},
    "status": {"type": "string", "enum": ["", *STATUSES], "description": "'': every status"},
    "task": {"type": "string", "description": "a task's name; '': every task"},
    "q": {"type": "string",
          "description": "words that must all match (first 200 characters): a word "
                         "matches the start of an iid, a task's name or a hyperparameter's "
                         "value (`adam`); a status name matches that status (`done`); a "
                         "sort name compared with a number (> >= < <= =) filters "
                         "(`test_accuracy>97`, `best_test_loss<=0.2`); mixed: "
                         "`adam done test_accuracy>=97`"},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    # search: a search's trials (GET /searches/{search_id})
    "search": {"type": "string",
               "description": "a search's id: only its trials (an unknown id: none); "
                              "'': every job"},
    # runmeta: a repeatable filter (the API reads every value; see api.listing_query)
    "tag": {"type": "string", "minLength": 1, "maxLength": 40,
            "description": "only runs with this tag; give it again for runs with every one "
                           "of them (at most 20); the same as a word tag:name in q"},
}
# The CSV is streamed a page at a time, so its limit needs no bound above; left
# out, every matching row (no "default": JSON Schema has no "none" integer).
CSV_QUERY = {**LISTING_QUERY, "limit": {
    "type": "integer", "minimum": 1,
    "description": "at most this many rows; left out: every matching row"}}

# The analysis: the listing's filters, then what is judged and by which evaluator.
ANALYSIS_QUERY: dict[str, dict[str, Any]] = {
    **{name: LISTING_QUERY[name] for name in ("task", "status", "q", "tag", "search")},
    "metric": {"type": "string",
               "description": "the objective: a metric of the task (its last value); "
                              "default: the search's objective, else the task's primary "
                              "metric"},
    "evaluator": {"type": "string", "enum": ["ped-anova", "fanova"], "default": "ped-anova",
                  "description": "Optuna's PED-ANOVA (fast) or fANOVA (16 trees, depth 8)"},
}
ANALYSIS = obj(
    ["task", "metric", "goal", "evaluator", "matching", "runs", "left_out", "capped",
     "importance", "fixed", "best", "message", "caution"],
    task={"type": "string"}, metric={"type": "string"},
    goal={"type": "string", "enum": ["min", "max"]},
    evaluator={"type": "string", "enum": ["ped-anova", "fanova"]},
    matching={"type": "integer", "description": "jobs the filters match (without "
                                                "`status`: in any status)"},
    runs={"type": "integer", "description": "done runs with a value of the metric: the "
                                            "ones analysed"},
    left_out={"type": "integer", "description": "matching jobs not analysed (not done, or "
                                                "no finite value of the metric)"},
    capped={"type": "boolean", "description": "more than 10,000 runs to judge: the newest "
                                              "10,000 were read"},
    importance={"type": "array", "description": "most important first",
                "items": obj(["name", "share"], name={"type": "string"},
                             share={"type": "number", "minimum": 0, "maximum": 1})},
    fixed={"type": "object", "additionalProperties": SCALAR,
           "description": "hyperparameters with one value across the runs"},
    best={"oneOf": [{"type": "null"},
                    obj(["iid", "value", "hyper_params"], iid=IID, value={"type": "number"},
                        hyper_params=HYPER_PARAMS)]},
    message={"type": "string", "description": "'' when there is an importance, else why not"},
    caution={"type": "string", "description": "'' unless the importance stands on so few "
                                              "runs (under 20) that it is mostly noise"})


def query_args(declared: Mapping[str, Mapping[str, Any]],
               args: Mapping[str, str]) -> dict[str, Any]:
    """A request's query parameters checked against their declarations, with
    the declared defaults for those not given; BadRequest names the first bad one."""
    unknown = sorted(k for k in args if k not in declared)
    if unknown:
        name = unknown[0] if len(unknown[0]) <= 80 else unknown[0][:80] + "…"
        raise BadRequest(name, f"unknown query parameter (allowed: {', '.join(declared)})")
    out: dict[str, Any] = {}
    for name, schema in declared.items():
        text = args.get(name)
        if text is None:
            out[name] = schema.get("default")
        elif schema["type"] == "integer":
            out[name] = _whole(name, text, schema)
        elif "enum" in schema and text not in schema["enum"]:
            raise BadRequest(name, f"must be {_one_of(schema['enum'], _EMPTY_WORDS.get(name))}; "
                                   f"got {text[:40]!r}")
        else:
            out[name] = text
    return out


def _whole(name: str, text: str, schema: Mapping[str, Any]) -> int:
    # ASCII digits only: int() would also take "٣" or "１", and 5,000 digits
    # would raise past Python's limit on the length of an integer
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", text.strip()):
        raise BadRequest(name, f"must be a whole number, got {text[:40]!r}")
    value = int(text)
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        rule = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(name, f"must be {rule}, got {value}")
    return value


_EMPTY_WORDS = {"status": "every status", "task": "every task"}


def _one_of(options: Any, empty: str | None = None) -> str:
    """'one of a, b, c' (an empty option said in words, not as a leading comma)."""
    words = ", ".join(str(o) for o in options if o != "")
    if "" in options:
        words += f" (or empty: {empty or 'none'})"
    return f"one of {words}"


# -- bodies -----------------------------------------------------------------------------
_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number",
               "boolean": "true or false", "object": "a JSON object", "array": "a list",
               "null": "null"}


def _words(kinds: Any) -> str:
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = [_TYPE_WORDS.get(k, k) for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _field(error: jsonschema.ValidationError, default: str = "body") -> str:
    """The field an error is about: the innermost name on its path (a list's
    index names nothing; its list does)."""
    names = [p for p in error.absolute_path if isinstance(p, str)]
    return names[-1] if names else default


def _shown(value: Any) -> str:
    """A value as the request wrote it (JSON), when short; else its kind."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        text = json.dumps(value)
        if len(text) <= 40:
            return text
    return json_type(value)


def _plural(count: int, word: str) -> str:
    return f"one {word}" if count == 1 else f"{count} {word}s"


# What one entry of an object is, for "give at least one ..."
_ENTRY_WORDS = {"metrics": "metric", "sweep": "hyperparameter to sweep",
                "hyper_params": "hyperparameter"}
# Patterns in words, for "must be ..." (a regular expression is not for people)
_PATTERN_WORDS = {
    IID_PATTERN: "32 hex digits (a job's iid)",
    f"^{NAME.pattern}$": "lower case letters, digits and _ (a letter first, at most 40)",
    f"^{TASK_NAME_RULE.pattern}$": TASK_NAME_WORDS}


def _message(error: jsonschema.ValidationError) -> tuple[str, str]:
    """(field, message) for a schema violation, in the words a person uses."""
    kind, schema, value = error.validator, error.schema, error.instance
    field_name = _field(error)
    bound = error.validator_value
    if "propertyNames" in error.schema_path:  # a key of an object breaks the name rule
        return str(value)[:80], ("a name is lower case letters, digits and _ (a letter "
                                 "first, at most 40)")
    if kind == "type":
        wanted = schema.get("title") or _words(schema["type"])
        return field_name, f"must be {wanted}, got {_shown(value)}"
    if kind == "required":
        missing = next(n for n in error.validator_value if n not in value)
        return missing, "is required"
    if kind == "additionalProperties":
        extra = sorted(k for k in value if k not in schema.get("properties", {}))
        allowed = ", ".join(schema.get("properties", {}))
        return extra[0], f"unknown field (allowed: {allowed})"
    if kind == "enum":
        return field_name, f"must be {_one_of(bound)}; got {_shown(value)}"
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return field_name, f"must be {word} {error.validator_value}, got {value}"
    if kind in ("exclusiveMinimum", "exclusiveMaximum"):
        word = "above" if kind == "exclusiveMinimum" else "below"
        return field_name, f"must be {word} {error.validator_value}, got {value}"
    if kind == "minLength":
        return field_name, ("must not be empty" if bound == 1 else
                            f"must be at least {bound} characters long")
    if kind == "maxLength":
        return field_name, f"must be at most {bound} characters long, got {len(value)}"
    if kind == "minItems":
        return field_name, f"give at least {_plural(bound, 'value')}"
    if kind == "maxItems":
        return field_name, f"give at most {_plural(bound, 'value')}, got {len(value)}"
    if kind == "minProperties":
        return field_name, f"give at least {_plural(bound, _ENTRY_WORDS.get(field_name, 'entry'))}"
    if kind == "maxProperties":
        return field_name, (f"give at most {_plural(bound, _ENTRY_WORDS.get(field_name, 'entry'))}"
                            f", got {len(value)}")
    if kind == "pattern":
        rule = _PATTERN_WORDS.get(bound, f"text matching {bound}")
        return field_name, f"must be {rule}; got {_shown(value)}"
    return field_name, error.message[:200]


def check_body(schema: Mapping[str, Any], body: Any) -> None:
    """BadRequest naming the first field of `body` (by path) that breaks `schema`."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(body),
                    key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    if errors:
        raise BadRequest(*_message(errors[0]))


# -- the routes -------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One REST operation: what it takes and what it answers (status ->
    (description, JSON Schema or None)). Errors are {"error", "field"?}."""

    method: str
    path: str  # OpenAPI's form: /status/{iid}
    summary: str
    answers: Mapping[int, tuple[str, Any]]
    errors: Mapping[int, str] = field(default_factory=dict)
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    body_required: bool = True
    description: str = ""
    tag: str = "jobs"
    media: str = "application/json"  # of the success answer
    # what a client can do next with the answer: name -> (operation, OpenAPI link
    # fields such as parameters and requestBody, with $response expressions)
    links: Mapping[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)


_NEW_IID = {"parameters": {"iid": "$response.body#/iid"}}
JOB_LINKS = {"status": ("status", _NEW_IID), "cancel": ("cancel", _NEW_IID),
             "retry": ("retry", _NEW_IID), "delete": ("delete", _NEW_IID)}
RUN_LINKS = {
    **JOB_LINKS,
    "log": ("log_run", {**_NEW_IID, "requestBody": {
        "token": "$response.body#/token", "epoch": 1, "metrics": {"loss": 0.5}}}),
    "heartbeat": ("heartbeat_run", {**_NEW_IID, "requestBody": {
        "token": "$response.body#/token", "progress": {"done": 1, "total": 2}}}),
    "finish": ("finish_run", {**_NEW_IID, "requestBody": {
        "token": "$response.body#/token", "status": "done"}})}

BAD = {400: "a field or parameter breaks its rule; `field` names it"}
WRITE = {413: "the body is over 64 KiB", 415: "the body is not application/json"}
GONE = {404: "no job with that iid"}

# runmeta: what POST /train and /sweep do when the same job exists (fingerprints.py)
IF_EXISTS = {"type": "string", "enum": ["run", "skip"], "default": "run",
             "description": "run (default): queue it anyway; skip: answer with the existing "
                            "job of the same task and hyperparameters (defaults filled in, "
                            "seed included) instead: done first, else running, else waiting, "
                            "the newest; a failed, cancelled or pruned one is run again"}
TRAIN_BODY = {
    "type": "object",
    "properties": {"task": TASK_NAME, "hyper_params": HYPER_PARAMS, "if_exists": IF_EXISTS},
    # the seed's bare form: the hyperparameters themselves, without "hyper_params"
    "additionalProperties": SCALAR,
    "description": '{"task": name, "hyper_params": {...}}, or the hyperparameters '
                   "themselves (with an optional task)"}
SWEEP_BODY = {
    "type": "object", "required": ["sweep"], "additionalProperties": False,
    "properties": {
        "task": TASK_NAME, "hyper_params": HYPER_PARAMS, "if_exists": IF_EXISTS,
        "sweep": {"type": "object", "minProperties": 1,
                  "description": "hyperparameter -> the values to try (every combination "
                                 "is one job, at most 1000)",
                  "additionalProperties": {"type": "array", "minItems": 1, "items": SCALAR}}}}
EMPTY_BODY = {"type": "object",
              "description": "nothing is read from it; send {}. Every POST must carry "
                             "Content-Type: application/json (a POST without it is 415: a "
                             "cross-site form could send one); an empty body with that "
                             "header is taken too"}
RUN_BODY = {
    "type": "object", "required": ["task"], "additionalProperties": False,
    "properties": {
        "task": {**TASK_NAME, "description": "the task to track into: a new name makes a new "
                                             "tracked task; a worker's task checks the "
                                             "hyperparameters against its schema"},
        "hyper_params": {**HYPER_PARAMS, "propertyNames": METRIC_NAME,
                         "maxProperties": MAX_PARAMS,
                         "description": "name -> a number, a string or a boolean; a tracked "
                                        "task infers each one's type from its first value "
                                        f"(at most {MAX_PARAMS} in a tracked task)"},
        "metrics": {"type": "object", "propertyNames": METRIC_NAME,
                    "maxProperties": MAX_METRICS,
                    "additionalProperties": {"type": "string", "enum": ["min", "max"]},
                    "description": "metric -> its goal; a metric not given here gets one "
                                   "from its name when first logged (loss, error... min); "
                                   f"at most {MAX_METRICS} in a tracked task"},
        "num_epochs": {"type": "integer", "minimum": 1, "maximum": 1000000,
                       "description": "how many epochs the script means to log (progress)"},
        "lease": {"type": "number", "minimum": 1, "maximum": 86400, "default": 60,
                  "description": "seconds without a heartbeat or log before the run "
                                 "fails as lost"}}}
LOG_BODY = {
    "type": "object", "required": ["token", "epoch", "metrics"], "additionalProperties": False,
    "properties": {
        "token": TOKEN,
        "epoch": {"type": "integer", "minimum": 1, "maximum": 10**9,
                  "description": "1-based; each above the last logged (gaps allowed)"},
        "metrics": {"type": "object", "minProperties": 1, "maxProperties": MAX_METRICS,
                    "propertyNames": METRIC_NAME, "additionalProperties": {"type": "number"},
                    "description": "metric -> a finite number (a tracked task has at most "
                                   f"{MAX_METRICS} metrics)"}}}
HEARTBEAT_BODY = {
    "type": "object", "required": ["token"], "additionalProperties": False,
    "properties": {
        "token": TOKEN,
        "progress": {"type": "object", "required": ["done", "total"],
                     "additionalProperties": False,
                     "description": "where the current epoch is, for the progress bar",
                     "properties": {"done": {"type": "integer", "minimum": 0,
                                             "maximum": 2**31},
                                    "total": {"type": "integer", "minimum": 1,
                                              "maximum": 2**31}}}}}
FINISH_BODY = {
    "type": "object", "required": ["token", "status"], "additionalProperties": False,
    "properties": {
        "token": TOKEN, "status": {"type": "string", "enum": ["done", "failed"]},
        "error": {"type": "string", "maxLength": 20000,
                  "description": "what went wrong (status failed)"}}}

OK = obj(["ok"], ok={"type": "boolean", "const": True})
# runmeta: tags and notes (store/annotations.py checks the rules themselves)
TAG_WORDS = ("A tag is 1-40 letters, digits, '-', '_', '.' or ':' (case does not matter: "
             "stored in lower case); a run has at most 20.")
_TAG_LIST = {"type": "array", "maxItems": 20,
             "items": {"type": "string", "minLength": 1, "maxLength": 40}}
TAGS_BODY = {"type": "object", "required": ["tags"], "additionalProperties": False,
             "properties": {"tags": {**_TAG_LIST, "description": "the run's tags from now on"}}}
EDIT_TAGS_BODY = {"type": "object", "additionalProperties": False,
                  "properties": {"add": {**_TAG_LIST, "description": "tags to add"},
                                 "remove": {**_TAG_LIST, "description": "tags to remove"}}}
NOTE_BODY = {"type": "object", "required": ["note"], "additionalProperties": False,
             "properties": {"note": {"type": ["string", "null"], "maxLength": 10000,
                                     "description": "the note; '', blank or null removes "
                                                    "it"}}}
TAGS_ANSWER = obj(["iid", "tags"], iid=IID, tags={"type": "array", "items": {"type": "string"}})
SWEEP_ANSWER = obj(["iids", "count", "task"], iids={"type": "array", "items": IID},
                   count={"type": "integer"}, task={"type": "string"},
                   existing={"type": "array", "items": IID,
                             "description": "if_exists skip: the iids (of `iids`) that "
                                            "existed and were not queued again"})
RUN_ERRORS = {**BAD, **WRITE, 403: "the token is not the run's",
              404: "no tracked run with that iid",
              410: "the run was deleted (after a cancel or its end): stop",
              409: "the run no longer runs (cancelled, failed as lost, finished): stop"}

# -- search: the bodies and answers of /searches ------------------------------------
SEARCH_ID_PATTERN = IID_PATTERN
SEARCH_ID = {"type": "string", "pattern": SEARCH_ID_PATTERN,
             "description": "a search's id (32 hex digits)"}
_NEW_SEARCH = {"parameters": {"search_id": "$response.body#/id"}}
_SPACE_ENTRY = {"anyOf": [
    {"type": "array", "minItems": 1, "maxItems": 1000, "items": SCALAR,
     "description": "values to choose from (a Choice's options, true/false, numbers)"},
    {"type": "object", "required": ["low", "high"], "additionalProperties": False,
     "description": "a range of an Int (whole numbers) or Float parameter, within its bounds",
     "properties": {"low": {"type": "number"}, "high": {"type": "number"},
                    "log": {"type": "boolean", "default": False}}}]}
OBJECTIVE = {"type": "object", "additionalProperties": False,
             "description": "default: the task's primary metric and its goal; the value of a "
                            "trial is the metric at its last epoch",
             "properties": {"metric": {"type": "string"},
                            "goal": {"type": "string", "enum": ["min", "max"]}}}
SEARCH_BODY = {
    "type": "object", "required": ["trials", "space"], "additionalProperties": False,
    "properties": {
        "task": TASK_NAME, "name": {"type": ["string", "null"], "maxLength": 200,
                                    "description": "a label: one line of printable text (no "
                                                   "control characters)"},
        "space": {"type": "object", "minProperties": 1, "maxProperties": MAX_PARAMS,
                  "additionalProperties": _SPACE_ENTRY,
                  "description": "hyperparameter -> a range {low, high, log} or a list of "
                                 "values; the grid sampler takes lists only"},
        "fixed": {**HYPER_PARAMS, "description": "hyperparameters every trial has; any other "
                                                 "takes its default"},
        "trials": {"type": "integer", "minimum": 1, "maximum": 10000,
                   "description": "how many trials run, exactly, across restarts"},
        "sampler": {"type": "string", "enum": ["tpe", "random", "grid"], "default": "tpe"},
        "parallel": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1,
                     "description": "how many trials wait or run at once"},
        "pruner": {"type": ["string", "null"], "enum": ["median", "halving", None],
                   "description": "stops trials behind the others at an epoch (status pruned)"},
        "objective": OBJECTIVE,
        "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1,
                 "description": "the sampler's seed: the same trials after a restart"}}}
_COUNT = {"type": "integer", "minimum": 0}
SEARCH_RECORD = {
    "type": "object",
    "required": ["id", "name", "task", "status", "trials", "finished", "running", "waiting",
                 "pruned", "failed", "space", "fixed", "sampler", "pruner", "parallel",
                 "objective", "best", "iids", "created"],
    "properties": {
        "id": SEARCH_ID, "name": {"type": "string"}, "task": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "done", "cancelled"]},
        "trials": {"type": "integer", "description": "trials it runs in all"},
        "started": {**_COUNT, "description": "trials queued so far"},
        "finished": {**_COUNT, "description": "trials ended (done, pruned, failed, cancelled)"},
        "running": _COUNT, "waiting": _COUNT, "done": _COUNT, "pruned": _COUNT,
        "failed": _COUNT, "cancelled": _COUNT,
        "deleted": {**_COUNT, "description": "trials whose job was deleted since they ended "
                                             "(counted in finished; left out of iids)"},
        "unqueued": {**_COUNT, "description": "reserved trials that never got a job (the "
                                              "search was cancelled first); counted in finished"},
        "missing": {**_COUNT, "description": "trials whose job is being created"},
        "note": {"type": ["string", "null"],
                 "description": "'no worker runs task X' while it runs and no live worker "
                                "runs its task (its trials wait)"},
        "space": {"type": "object"}, "fixed": {"type": "object"},
        "sampler": {"type": "string"}, "pruner": {"type": ["string", "null"]},
        "parallel": {"type": "integer"}, "seed": {"type": ["integer", "null"]},
        "objective": obj(["metric", "goal"], metric={"type": "string"},
                         goal={"type": "string"}),
        "best": {"type": ["object", "null"], "description": "the done trial with the best "
                                                            "objective value",
                 "properties": {"iid": IID, "trial": {"type": ["integer", "null"]},
                                "value": {"type": "number"}, "hyper_params": HYPER_PARAMS}},
        "iids": {"type": "array", "items": IID, "description": "its trials' jobs, in order"},
        "created": {"type": "number"}, "ended": {"type": ["number", "null"]}}}

ROUTES: dict[str, Route] = {
    "train": Route(
        "post", "/train", "Queue one job", body=TRAIN_BODY, errors={**BAD, **WRITE},
        links=JOB_LINKS,
        answers={201: ("queued", obj(["iid", "status", "task", "hyper_params"], iid=IID,
                                     status={"type": "string"}, task={"type": "string"},
                                     hyper_params=HYPER_PARAMS, existing={"type": "boolean"})),
                 200: ("if_exists skip: the existing job, not queued again",
                       obj(["iid", "status", "task", "hyper_params", "existing"], iid=IID,
                           status={"type": "string"}, task={"type": "string"},
                           hyper_params=HYPER_PARAMS, existing={"type": "boolean"}))}),
    "sweep": Route(
        "post", "/sweep", "Queue every combination of a grid", body=SWEEP_BODY,
        errors={**BAD, **WRITE},
        answers={201: ("queued", SWEEP_ANSWER),
                 200: ("if_exists skip: every combination exists; nothing queued",
                       SWEEP_ANSWER)}),
    "status": Route(
        "get", "/status/{iid}", "One job with its per-epoch metrics", errors=GONE,
        answers={200: ("the job", STATUS_ANSWER)}),
    "experiments": Route(
        "get", "/experiments", "One page of jobs, sorted and filtered in the database",
        query=LISTING_QUERY, errors=BAD,
        answers={200: ("a page", obj(["results", "total"],
                                     results={"type": "array", "items": JOB},
                                     total={"type": "integer"}, limit={"type": "integer"},
                                     offset={"type": "integer"}, sort={"type": "string"},
                                     order={"type": "string"}, q={"type": "string"}))}),
    "experiments_csv": Route(
        "get", "/experiments.csv", "Every matching job as CSV (the same parameters as "
                                   "/experiments)", query=CSV_QUERY, errors=BAD, media="text/csv",
        description="One row per job in the listing's order: iid, task, status, times, "
                    "then each hyperparameter and each metric (last value and best_<metric>) "
                    "of the tasks listed. Streamed; an attachment.",
        answers={200: ("CSV with a header row", {"type": "string"})}),
    "cancel": Route(
        "post", "/experiments/{iid}/cancel", "Cancel a job (a running one by flag; a tracked "
                                             "run at once)",
        body=EMPTY_BODY, body_required=False,
        errors={**GONE, **WRITE, 400: "the body is not a JSON object",
                409: "the job has ended"},
        answers={200: ("its status now", obj(["iid", "status", "cancel_requested"], iid=IID,
                                             status={"type": "string"},
                                             cancel_requested={"type": "boolean"}))}),
    "retry": Route(
        "post", "/experiments/{iid}/retry", "Queue a failed or cancelled job again",
        body=EMPTY_BODY, body_required=False,
        errors={**GONE, **WRITE, 400: "the body is not a JSON object",
                409: "the job is not failed or cancelled, or is a tracked run"},
        answers={201: ("the new job", obj(["iid", "retry_of", "status"], iid=IID, retry_of=IID,
                                          status={"type": "string"}))}),
    "delete": Route(
        "delete", "/experiments/{iid}", "Delete an ended job and its epochs",
        errors={**GONE, 409: "the job is waiting or running", 415: "a body that is not JSON"},
        answers={200: ("deleted", obj(["iid", "deleted"], iid=IID,
                                      deleted={"type": "boolean"}))}),
    "tasks": Route(
        "get", "/tasks", "Every task's schema, live workers and waiting jobs", tag="tasks",
        answers={200: ("the tasks", obj(["tasks", "total"], tasks={"type": "array", "items": TASK},
                                        total={"type": "integer"}))}),
    "task": Route(
        "get", "/tasks/{name}", "One task's schema", tag="tasks", errors={404: "no such task"},
        answers={200: ("the task", TASK)}),
    "delete_task": Route(
        "delete", "/tasks/{name}", "Remove a tracked task whose runs were all deleted",
        tag="tasks",
        description="Only a task that scripts track (POST /runs) and that has no job left; "
                    "its name is free again. A task a worker declares is the worker's.",
        errors={404: "no such task", 409: "a worker declares the task, or runs of it are left",
                415: "a body that is not JSON"},
        answers={200: ("removed", obj(["name", "deleted"], name={"type": "string"},
                                      deleted={"type": "boolean"}))}),
    "workers": Route(
        "get", "/workers", "Live workers", tag="system",
        answers={200: ("the workers", obj(["workers", "total"],
                                          workers={"type": "array", "items": {"type": "object"}},
                                          total={"type": "integer"}))}),
    "health": Route(
        "get", "/health", "Whether mltrack and its database answer", tag="system",
        answers={200: ("healthy", obj(["status", "version", "database", "counts", "workers"],
                                      status={"type": "string"}, version={"type": "string"},
                                      database={"type": "string"},
                                      counts={"type": "object",
                                              "additionalProperties": {"type": "integer"}},
                                      workers={"type": "integer"}))}),
    "start_run": Route(
        "post", "/runs", "Start tracking a script's run", body=RUN_BODY, tag="tracked runs",
        links=RUN_LINKS,
        errors={**BAD, **WRITE},
        description="The run is running at once (never queued). Keep it alive with "
                    "heartbeats or logs at least every `lease` seconds, or it fails as lost.",
        answers={201: ("the run", obj(["iid", "attempt", "lease", "token"], iid=IID,
                                      attempt={"type": "integer"}, lease={"type": "number"},
                                      token={"type": "string"}))}),
    "log_run": Route(
        "post", "/runs/{iid}/log", "Record one epoch's metrics (renews the lease)",
        body=LOG_BODY, tag="tracked runs", errors=RUN_ERRORS, answers={200: ("recorded", OK)}),
    "heartbeat_run": Route(
        "post", "/runs/{iid}/heartbeat", "Renew the lease, show progress", body=HEARTBEAT_BODY,
        tag="tracked runs", errors=RUN_ERRORS, answers={200: ("still running", OK)}),
    "finish_run": Route(
        "post", "/runs/{iid}/finish", "End the run as done or failed", body=FINISH_BODY,
        tag="tracked runs", errors=RUN_ERRORS, answers={200: ("ended", OK)}),
    # -- runmeta: tags, notes, the trained model (annotations_api.py) --------------
    "set_tags": Route(
        "put", "/experiments/{iid}/tags", "Replace a run's tags", body=TAGS_BODY,
        errors={**BAD, **WRITE, **GONE}, tag="annotations",
        description=f"Any run: queued, tracked, a search's trial. {TAG_WORDS}",
        answers={200: ("its tags now", TAGS_ANSWER)}),
    "edit_tags": Route(
        "post", "/experiments/{iid}/tags", "Add and remove tags of a run", body=EDIT_TAGS_BODY,
        errors={**BAD, **WRITE, **GONE}, tag="annotations",
        description=f"Removing a tag the run lacks is fine. {TAG_WORDS}",
        answers={200: ("its tags now", TAGS_ANSWER)}),
    "set_note": Route(
        "put", "/experiments/{iid}/note", "Set a run's note", body=NOTE_BODY,
        errors={**BAD, **WRITE, **GONE}, tag="annotations",
        description="Free text, at most 10,000 characters, no control characters but "
                    "newline and tab (400 note); an empty or blank note, or null, removes it.",
        answers={200: ("its note now", obj(["iid", "note"], iid=IID, note=nullable("string")))}),
    "model": Route(
        "get", "/experiments/{iid}/model", "Download a done run's trained model",
        tag="annotations", media="application/octet-stream",
        description="The final weights in mltrack's pickle-free checkpoint format "
                    "(mltrack.checkpoint.unpack_state reads it; see the README). Only a done "
                    "run whose task saved a model has one, kept by the server that took it "
                    "under its --keep-models.",
        errors={404: "no such run, or it has no model here: not done, its task saved none, "
                     "no longer kept, or kept by another server (the message says which)"},
        answers={200: ("the model file", {"type": "string", "format": "binary"})}),
    # -- search: searches on Optuna (search_api.py; mltrack/search/spec.py checks
    # each rule itself and names the field, e.g. space.learning_rate) ---------------
    "create_search": Route(
        "post", "/searches", "Start a search: an Optuna study whose trials are jobs",
        body=SEARCH_BODY, tag="searches", errors={**BAD, **WRITE},
        links={"search": ("search", _NEW_SEARCH), "cancel": ("cancel_search", _NEW_SEARCH)},
        description="The task's schema (GET /tasks/{name}) says which hyperparameters, "
                    "bounds and metrics a search may name. Exactly `trials` trials run, "
                    "across restarts; each is a job (GET /experiments?search={search_id}).",
        answers={201: ("the search", SEARCH_RECORD)}),
    "searches": Route(
        "get", "/searches", "Every search, newest first", tag="searches",
        answers={200: ("the searches", obj(["searches"], searches={
            "type": "array", "items": SEARCH_RECORD}))}),
    "search": Route(
        "get", "/searches/{search_id}", "One search: progress, best trial, its trials",
        tag="searches", errors={404: "no search with that id"},
        answers={200: ("the search", SEARCH_RECORD)}),
    "cancel_search": Route(
        "post", "/searches/{search_id}/cancel", "Cancel a search: no new trials, its "
                                                "waiting and running trials cancelled",
        body=EMPTY_BODY, body_required=False, tag="searches",
        errors={404: "no search with that id", 409: "the search is done",
                400: "the body is not a JSON object", **WRITE},
        answers={200: ("the search", SEARCH_RECORD)}),
    # -- which hyperparameters matter, over a filtered set of runs (analysis_api.py) --
    "analysis": Route(
        "get", "/analysis", "Which hyperparameters matter among the done runs of one task",
        query=ANALYSIS_QUERY, tag="analysis", errors=BAD,
        description="The runs that `task`, `status`, `q`, `tag` and `search` pick (as "
                    "GET /experiments does; only done runs with a finite value of `metric` "
                    "count, the newest 10,000 at most): each varying hyperparameter's share "
                    "of the importance (Optuna's evaluator, summing to 1, most important "
                    "first) and the best run. `message` says why there is no importance "
                    "(too few runs, nothing varies).",
        answers={200: ("the analysis", ANALYSIS)}),
    "openapi": Route(
        "get", "/openapi.json", "This document (OpenAPI 3.1)", tag="system",
        answers={200: ("the document", {"type": "object"})}),
}
