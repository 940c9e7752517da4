"""The client's commands: `mltrack submit|ls|show|watch|cancel|retry|delete|tag|note|model|
search|importance` (mltrack.__main__.CLIENT_COMMANDS).

They talk to a running mltrack through `mltrack.client.Client` (--url or
MLTRACK_URL, MLTRACK_PASSWORD) and print with rich. Exit status: 0 on
success, 1 with the server's message on an error, 2 for a bad command line.
The server itself (`mltrack`, `mltrack serve`) is `mltrack.serve`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Sequence

from mltrack import analysis_cli, search_cli
from mltrack.client import MAX_PAGE, Client, ClientError, epoch_columns, metric_names

STATUSES = ("waiting", "running", "done", "failed", "cancelled", "pruned")
STATUS_STYLE = {"waiting": "yellow", "running": "cyan", "done": "green", "failed": "red",
                "cancelled": "magenta", "pruned": "blue"}
_TRUE, _FALSE = ("true", "yes", "on", "1", "t", "y"), ("false", "no", "off", "0", "f", "n")


class Usage(Exception):
    """A bad command line found after parsing (argparse's exit status 2)."""


def console(stderr: bool = False):
    from rich.console import Console

    class QuietConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich's own exits with status 1; the reader leaving (`| head`) is
            # no error: main() ends with 0
            raise BrokenPipeError

    # Piped or captured output is not a terminal: wide enough that a row stays
    # one line for grep, unless COLUMNS says otherwise.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 1000)
    return QuietConsole(file=stream, width=width, highlight=False, soft_wrap=False)


# -- the command line ---------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --url after the command must not reset one given before it.
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help="the mltrack to talk to [MLTRACK_URL] (default: "
                             "http://127.0.0.1:8050)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="mltrack", allow_abbrev=False,
        description="Talk to a running mltrack. `mltrack` alone (or `mltrack serve`) starts "
                    "one; `mltrack serve --help` lists its options.",
        epilog="MLTRACK_PASSWORD: the password of an mltrack that has one.")
    parser.add_argument("--url", default=None, help="the mltrack to talk to [MLTRACK_URL] "
                                                    "(default: http://127.0.0.1:8050)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # submit's own options come from its task's schema, parsed in `submit`.
    sub.add_parser("submit", parents=[common], add_help=False,
                   help="queue a job, or a sweep (comma lists), with the task's flags "
                        "(mltrack submit [--task T] --help)")
    ls = sub.add_parser("ls", parents=[common], allow_abbrev=False,
                        help="list jobs in a table, sorted and filtered by the database")
    ls.add_argument("--sort", default="created",
                    help="created (default), runtime, epochs, status, a metric (test_accuracy, "
                         "best_test_accuracy) or a hyperparameter")
    ls.add_argument("--order", choices=["asc", "desc"],
                    help="default: best first by the metric's goal, newest first")
    ls.add_argument("--status", choices=STATUSES)
    ls.add_argument("--task", help="only this task's jobs (then --sort takes its names)")
    ls.add_argument("--q", help="words that must all match: iid, task, hyperparameter values")
    ls.add_argument("--tag", action="append", help="only runs with this tag (repeat it: with "
                                                    "every one)")
    ls.add_argument("--search", metavar="ID", help="only this search's trials (its id or its "
                                                   "first characters; mltrack search ls)")
    ls.add_argument("--limit", type=_count, default=20,
                    help="rows to show, 0 for all (default: %(default)s)")
    ls.add_argument("--wide", action="store_true",
                    help="every metric and hyperparameter (default: the primary metric and "
                         "the hyperparameters that differ)")
    show = sub.add_parser("show", parents=[common], allow_abbrev=False,
                          help="a job's parameters and per-epoch metrics")
    show.add_argument("iid", help="a job's iid, or its first characters")
    watch = sub.add_parser("watch", parents=[common], allow_abbrev=False,
                           help="progress bars of the running jobs until the queue is empty "
                                "(Ctrl-C to leave)")
    watch.add_argument("--task", help="only this task's jobs")
    watch.add_argument("--interval", type=float, default=1.0,
                       help="seconds between refreshes (default: %(default)s)")
    for name, what in (("cancel", "cancel jobs (waiting: at once; running: within a batch)"),
                       ("retry", "queue failed or cancelled jobs again, as new jobs"),
                       ("delete", "delete finished jobs")):
        one = sub.add_parser(name, parents=[common], allow_abbrev=False, help=what)
        one.add_argument("iids", nargs="+", metavar="IID", help="iids, or their first characters")
    # -- runmeta: tags, notes, models
    tag = sub.add_parser("tag", parents=[common], allow_abbrev=False,
                         help="add (+name or name) and remove (-name) tags of a run: "
                              "mltrack tag IID +baseline -draft (after -- when a name could be "
                              "an option)")
    tag.add_argument("iid", help="a job's iid, or its first characters")
    tag.add_argument("changes", nargs="*", metavar="[+|-]TAG")
    note = sub.add_parser("note", parents=[common], allow_abbrev=False,
                          help="set a run's note (\"\" removes it; - reads it from stdin; "
                               "no text prints it)")
    note.add_argument("iid", help="a job's iid, or its first characters")
    note.add_argument("text", nargs="?")
    model = sub.add_parser("model", parents=[common], allow_abbrev=False,
                           help="download a done run's trained model")
    model.add_argument("iid", help="a job's iid, or its first characters")
    model.add_argument("-o", "--output", help="the file to write (default: "
                                              "<task>-<iid>.mltmodel here); - writes to stdout")
    model.add_argument("-f", "--force", action="store_true",
                       help="overwrite the file if it exists")
    search_cli.add_parser(sub, common)  # search: mltrack search start|ls|show|cancel
    analysis_cli.add_parser(sub, common)  # mltrack importance
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "tag":  # runmeta: "-draft" is a removal, not an option
        args.changes += rest
        rest = []
    if args.command != "submit" and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    client = Client(args.url)
    try:
        code = COMMANDS[args.command](client, args, rest)
        sys.stdout.flush()  # here, not at exit, where a closed pipe is a traceback
        return code
    except BrokenPipeError:
        # the reader left (`mltrack ls | head -3`): no traceback, and none at exit
        # either (Python's advice: point stdout at devnull)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ClientError as exc:
        print(f"mltrack: {exc}", file=sys.stderr)
        return 1
    except Usage as exc:
        print(f"mltrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# -- submit -----------------------------------------------------------------------
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def submit_parser(task: Mapping[str, Any] | None) -> argparse.ArgumentParser:
    """`mltrack submit`'s options: --task, --wait and one flag per parameter of
    the task's schema (GET /tasks/<name>); values are comma lists."""
    parser = argparse.ArgumentParser(
        prog="mltrack submit", parents=[_common()], allow_abbrev=False,
        description="Queue a job of a task. A comma list (--learning-rate 0.1,0.01) queues "
                    "every combination as one sweep. What you leave out takes its default; "
                    "the server checks every value.")
    params = (task or {}).get("params", {})
    parser.add_argument("--task", default="mnist", help="the task (default: %(default)s)")
    if "wait" not in params:
        parser.add_argument("--wait", action="store_true",
                            help="then wait for the jobs, with a progress bar")
    if "if_exists" not in params:  # runmeta
        parser.add_argument("--if-exists", choices=["run", "skip"], default="run",
                            help="skip: when a job with the same task and hyperparameters "
                                 "(defaults and seed included) is done, running or waiting, "
                                 "print its iid instead of queueing it again (default: run)")
    group = parser.add_argument_group(f"parameters of task {task['name']}" if task else
                                      "parameters (give --task and a reachable --url to list "
                                      "them)")
    for name, spec in params.items():
        flags = [_flag(name)] + ([f"--{name}"] if "_" in name else [])
        kind, default = spec.get("type"), spec.get("default")
        text = (spec.get("help") or "").rstrip(".")
        detail = f"default {_show(default)}"
        if kind == "choice":
            detail += "; one of " + ", ".join(map(str, spec.get("options", [])))
        elif kind in ("float", "int") and (spec.get("low") is not None
                                           or spec.get("high") is not None):
            detail += f"; {_show(spec.get('low'))} .. {_show(spec.get('high'))}"
        if spec.get("when"):
            detail += "; only with " + ", ".join(
                f"{k} in {'/'.join(map(str, v))}" for k, v in spec["when"].items())
        help_text = f"{text} ({detail})" if text else f"({detail})"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help: "50% of the steps"
        if kind == "bool":
            group.add_argument(*flags, dest=name, nargs="?", const="true", metavar="BOOL[,BOOL]",
                               help=help_text)
            group.add_argument(f"--no-{name.replace('_', '-')}", dest=name,
                               action="store_const", const="false", help=f"{name} false")
        else:
            metavar = {"float": "X[,X...]", "int": "N[,N...]"}.get(kind, "VALUE[,VALUE...]")
            group.add_argument(*flags, dest=name, metavar=metavar, help=help_text)
    return parser


def parse_value(text: str, spec: Mapping[str, Any]) -> Any:
    """One value of a flag, as JSON the server checks: numbers for numeric
    parameters, true/false for booleans; a value that does not read as its type
    is sent as the text, so the server's message explains the rule."""
    text = text.strip()
    kind = spec.get("type")
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    numeric = kind in ("int", "float") or (
        kind == "choice" and any(isinstance(o, (int, float)) for o in spec.get("options", [])))
    if numeric:
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                pass
    return text


def submit(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--task", default="mnist")
    pre.add_argument("-h", "--help", action="store_true")
    known, _ = pre.parse_known_args(rest)
    try:
        task = client.task(known.task)
    except ClientError:
        if not known.help:
            raise
        task = None  # the help without the task's flags; the error follows it
        submit_parser(None).print_help()
        raise
    if task.get("tracked"):
        # No worker runs it: a job queued for it would wait for ever (the server refuses).
        text = (f"task {task['name']} is tracked from scripts (Client().start_run, POST "
                "/runs): no worker runs it, so it cannot be queued with mltrack submit")
        if known.help:
            print(text)
            return 0
        raise ClientError(text, field="task")
    options = vars(submit_parser(task).parse_args(rest))
    if options.get("url"):  # `mltrack submit --url X`: too late for the client made in main
        client = Client(options["url"])
    base: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    for name, spec in task["params"].items():
        text = options.get(name)
        if text is None:
            continue
        items = text.split(",")
        if not text.strip():
            raise Usage(f"{_flag(name)}: no value given")
        if any(not item.strip() for item in items):
            # '1, ,2' or '0.3,0.1,': a value lost to a typo, not meant to be dropped
            raise Usage(f"{_flag(name)}: an empty value in {text!r}; give a value between "
                        "each pair of commas")
        values = [parse_value(v, spec) for v in items]
        if len(values) == 1:
            base[name] = values[0]
        else:
            grid[name] = values
    existing: list[str] = []
    if options.get("if_exists") == "skip":  # runmeta: the answer says which existed
        body: dict[str, Any] = {"task": task["name"], "hyper_params": base, "if_exists": "skip"}
        if grid:
            answer = client.request("POST", "/sweep", json={**body, "sweep": grid})
            iids, existing = answer["iids"], answer["existing"]
        else:
            answer = client.request("POST", "/train", json=body)
            iids, existing = [answer["iid"]], [answer["iid"]] if answer.get("existing") else []
    elif grid:
        iids = client.sweep(base, grid, task=task["name"])
    else:
        iids = [client.submit(base, task=task["name"])]
    for iid in iids:
        print(iid)
    queued = len(iids) - len(existing)
    said = f"queued {queued} job{'s' * (queued != 1)} of task {task['name']}"
    if existing:
        said += (f"; {len(existing)} existed already (--if-exists skip: "
                 f"{'its' if len(existing) == 1 else 'their'} iid{'s' * (len(existing) != 1)} "
                 "printed, not queued again)")
    if queued and not task.get("workers"):  # as GET /tasks said it when it was read
        said += (f"\nno worker runs task {task['name']} now: its jobs wait until a worker of "
                 "it starts")
    print(said, file=sys.stderr)
    if options.get("wait"):
        records = client.wait(iids)
        failed = [r for r in records if r["status"] != "done"]
        for r in failed:
            print(f"{r['iid']} {r['status']}: {r.get('error') or ''}".rstrip(), file=sys.stderr)
        return 1 if failed else 0
    return 0


# -- resolving iids ------------------------------------------------------------------
def resolve(client: Client, text: str) -> str:
    """A full iid from an iid or its first characters (at least 4), as git does
    with commits; the text search finds iids by their start."""
    text = text.strip().lower()
    if len(text) == 32:
        return text
    if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
        raise ClientError(f"{text!r} is not an iid (32 hex digits, or at least their first 4)",
                          field="iid")
    found = [r["iid"] for r in client.page(q=text, limit=MAX_PAGE)["results"]
             if r["iid"].startswith(text)]
    if not found:
        raise ClientError(f"no job with an iid starting {text!r}", 404, "iid")
    if len(found) > 1:
        raise ClientError(f"{text!r} is the start of {len(found)} iids: "
                          f"{', '.join(found[:5])}; give more characters", 400, "iid")
    return found[0]


# -- ls -------------------------------------------------------------------------------
def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _text(value: Any, show: Callable[[Any], str] = _show) -> str:
    """A value as rich prints it: its text (by `show`) with rich's markup escaped,
    so a tracked run's "[/x]" or "[link=...]" hyperparameter is printed as typed,
    and control characters shown, not sent (an error's ESC[2J cleared the terminal)."""
    from rich.markup import escape

    return escape(_visible(show(value)))


def _visible(text: str) -> str:
    """Control characters but newline and tab as \\x.. escapes (ESC: \\x1b)."""
    return "".join(f"\\x{ord(c):02x}" if c not in "\n\t" and unicodedata.category(c) == "Cc"
                   else c for c in text)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m"


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _epochs(record: Mapping[str, Any]) -> str:
    total = record.get("num_epochs")
    return f"{record.get('epochs_done') or 0}/{total}" if total else str(
        record.get("epochs_done") or 0)


def primaries(client: Client) -> dict[str, str]:
    """Each task's primary metric."""
    return {t["name"]: t.get("primary") for t in client.tasks() if t.get("primary")}


def table_columns(records: Sequence[Mapping[str, Any]], primary: Mapping[str, str],
                  sort: str, wide: bool
                  ) -> tuple[list[str], list[str], dict[str | None, dict[str, Any]]]:
    """(metric columns, hyperparameter columns, shared values) for `ls`: by
    default each task's primary metric (last and best), the sort key, and only
    the hyperparameters that differ between rows. Shared values: under None
    those every listed row has, alike; under a task's name those every row of
    that task (and no other's) has alike, in a listing of several tasks."""
    present = dict.fromkeys(m for r in records for m in metric_names(r))
    if wide:
        metrics = list(present)
    else:
        wanted = []
        for task in dict.fromkeys(r["task"] for r in records):
            name = primary.get(task)
            if name:
                wanted += [name, f"best_{name}"]
        wanted.append(sort)
        metrics = [m for m in dict.fromkeys(wanted) if m in present]
    names = list(dict.fromkeys(n for r in records for n in r.get("hyper_params") or {}))
    shared: dict[str | None, dict[str, Any]] = {}
    params = []
    for name in names:
        having = [r for r in records if name in (r.get("hyper_params") or {})]
        alike = len({repr(r["hyper_params"][name]) for r in having}) == 1
        tasks = {r["task"] for r in having}
        if wide or len(having) < 2 or not alike:
            params.append(name)
        elif len(having) == len(records):
            shared.setdefault(None, {})[name] = having[0]["hyper_params"][name]
        elif len(tasks) == 1 and len(having) == sum(r["task"] in tasks for r in records):
            # every row of one task, none of the others: said of that task only
            shared.setdefault(tasks.pop(), {})[name] = having[0]["hyper_params"][name]
        else:
            params.append(name)
    return metrics, params, shared


def ls(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    from rich.table import Table

    query = dict(sort=args.sort, order=args.order, status=args.status, task=args.task, q=args.q,
                 tag=args.tag)
    if args.search:  # search: a search's trials, with their trial numbers
        query["search"] = search_cli.resolve(client, args.search)
    if args.limit and args.limit <= MAX_PAGE:
        page = client.page(**query, limit=args.limit)
        records, total = page["results"], page["total"]
    else:
        records = client.records(**query, limit=args.limit or None)
        total = len(records)
    out = console()
    if not records:
        out.print("no jobs" + (" match" if any((args.status, args.task, args.q, args.search))
                               else " yet"))
        return 0
    metrics, params, shared = table_columns(records, primaries(client), args.sort, args.wide)
    mixed = args.task is None and len({r["task"] for r in records}) > 1
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("iid", no_wrap=True)
    if args.search:
        table.add_column("trial", justify="right", no_wrap=True)
    if mixed:
        table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("epochs", justify="right", no_wrap=True)
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    for name in params:
        table.add_column(name, no_wrap=True)
    table.add_column("runtime", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    rows = []
    for r in records:
        hyper = r.get("hyper_params") or {}
        row = [r["iid"][:8]] + ([_show(r.get("trial"))] if args.search else []) + (
            [r["task"]] if mixed else []) + [r["status"], _epochs(r)]
        row += [_show(r.get(m)) for m in metrics]
        row += [_show(hyper.get(p)) for p in params]
        rows.append(row + [_duration(r.get("runtime")), _when(r.get("created"))])
    # Free text last, in the width the other columns leave: a long error or 20
    # tags must not squeeze the iids and metrics to nothing.
    texts = {name: [" ".join(r.get("tags") or []) if name == "tags" else r.get("error") or ""
                    for r in records]
             for name in ("tags", "error") if any(r.get(name) for r in records)}  # runmeta
    widths = _text_widths(table.columns, rows, texts, out.width)
    left_out = [name for name in texts if name not in widths]
    texts = {name: texts[name] for name in widths}
    for name, width in widths.items():
        table.add_column(name, no_wrap=True, max_width=width, overflow="ellipsis")
    at = 1 + bool(args.search) + bool(mixed)  # the status column: coloured
    for n, row in enumerate(rows):
        # the rest is text as it is: an error may hold "[/...]", rich's markup
        cells = [_text(c) for c in [*row, *(texts[name][n] for name in texts)]]
        cells[at] = f"[{STATUS_STYLE.get(row[at], '')}]{row[at]}[/]"
        table.add_row(*cells)
    _print_table(out, table)
    notes = []
    for task, values in shared.items():
        where = "every row" if task is None else f"every {task} row"
        notes.append(f"same in {where}: " + " ".join(f"{k}={_text(v)}" for k, v in values.items()))
    shown = (f"{len(records)} of {total} jobs" if total > len(records)
             else f"{total} job" + "s" * (total != 1))
    if total > len(records):
        shown += " (--limit N for more, 0 for all)"
    notes.append(shown)
    if left_out:
        notes.append(f"{' and '.join(left_out)} left out: no room beside the other columns "
                     "(a wider terminal shows them; mltrack show IID)")
    for note in notes:
        out.print(note, style="dim")
    return 0


TEXT_MOST = {"tags": 40, "error": 80}  # characters a free-text column shows at most
TEXT_LEAST = 8  # less says nothing: the column is left out


def _text_widths(columns, rows, texts, width: int) -> dict[str, int]:
    """Each free-text column's width: what `width` leaves after the other
    columns at their natural widths (two spaces apart), shared out; between
    TEXT_LEAST and TEXT_MOST characters."""
    natural = sum(max([len(str(column.header))] + [len(row[i]) for row in rows]) + 2
                  for i, column in enumerate(columns))
    left = width - natural
    if len(texts) == 2 and left - 2 >= 2 * TEXT_LEAST:
        tags = max(TEXT_LEAST, min(TEXT_MOST["tags"], (left - 2) // 3))  # the error says more
        return {"tags": tags, "error": min(TEXT_MOST["error"], left - 2 - tags)}
    # room for one at most: the error before the tags (it says why a run failed)
    for name in sorted(texts, key=lambda n: n != "error"):
        if left >= TEXT_LEAST:
            return {name: min(TEXT_MOST[name], left)}
    return {}


def _print_table(out, table) -> None:
    """A table; off a terminal without the padding at the end of each line."""
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


# -- show ---------------------------------------------------------------------------------
def show(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    from rich.table import Table

    record = client.status(resolve(client, args.iid))
    out = console()
    status = record["status"]
    out.print(f"[bold]{record['iid']}[/]  task {record['task']}  "
              f"[{STATUS_STYLE.get(status, '')}]{status}[/]  epochs {_epochs(record)}"
              + (f"  runtime {_duration(record.get('runtime'))}" if record.get("runtime") else ""))
    facts = {"created": _when(record.get("created")), "started": _when(record.get("started")),
             "finished": _when(record.get("finished")), "attempts": record.get("attempts"),
             "device": record.get("device"), "precision": record.get("precision"),
             "worker": record.get("worker"), "retry of": record.get("retry_of")}
    if record.get("search"):  # search: which search's trial this job is
        out.print(f"trial {record.get('trial')} of search {record['search']} "
                  f"(mltrack search show {record['search'][:8]})")
    out.print("  ".join(f"{k} {_text(v)}" for k, v in facts.items() if v not in (None, "")),
              style="dim")
    progress = record.get("progress") or {}
    if status == "running" and progress.get("batches"):
        eta = progress.get("eta_seconds")
        out.print(f"epoch {progress.get('epoch')}: batch {progress.get('batch')} of "
                  f"{progress['batches']}, "
                  + (f"about {_duration(eta)} left" if eta is not None else "estimating the "
                     "time left"))
    if record.get("error"):  # as it is: an error may hold "[/x]", rich's markup
        out.print("[red]error:[/] " + _text(record["error"]))
    if record.get("tags"):  # runmeta
        out.print("tags: " + " ".join(record["tags"]))
    if record.get("note"):
        out.print("note: " + record["note"], markup=False)
    # the titles on lines of their own: rich wraps a title to its table's width
    # ("para / mete / rs" above a narrow table)
    out.print("parameters", style="italic")
    params = Table(box=None, show_header=False, pad_edge=False)
    params.add_column(style="bold")
    params.add_column()
    for name, value in (record.get("hyper_params") or {}).items():
        params.add_row(name, _text(value))
    _print_table(out, params)
    columns = epoch_columns(record.get("in_update") or {})
    epochs = columns.get("epoch") or []
    if not epochs:
        out.print("no epoch recorded yet", style="dim")
        return 0
    out.print("epochs", style="italic")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    for i in range(len(epochs)):
        table.add_row(*(_show(columns[name][i]) for name in columns))
    _print_table(out, table)
    return 0


# -- cancel, retry, delete ------------------------------------------------------------------
def _each(client: Client, iids: Iterable[str], act) -> int:
    """Acts on every iid, reporting each; 1 when any failed."""
    failed = 0
    for text in iids:
        try:
            print(act(resolve(client, text)))
        except ClientError as exc:
            print(f"mltrack: {text}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def cancel(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    def act(iid: str) -> str:
        answer = client.cancel(iid)
        if answer.get("cancel_requested"):
            return f"{iid} cancel requested (it stops within a batch)"
        return f"{iid} {answer['status']}"

    return _each(client, args.iids, act)


def retry(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    return _each(client, args.iids, lambda iid: f"{iid} retried as {client.retry(iid)}")


def delete(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    def act(iid: str) -> str:
        client.delete(iid)
        return f"{iid} deleted"

    return _each(client, args.iids, act)


# -- watch ------------------------------------------------------------------------------------
def watch(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    """Live bars of the running jobs until none waits or runs (plain lines when
    the output is not a terminal); Ctrl-C leaves quietly."""
    from rich.console import Group
    from rich.live import Live
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.text import Text

    out = console()
    tasks = {t["name"]: t for t in client.tasks()}
    primary = {name: t.get("primary") for name, t in tasks.items() if t.get("primary")}
    bars: dict[str, Any] = {}  # iid -> its bar
    progress = Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[epochs]}"), TextColumn("{task.fields[eta]}"),
                        TextColumn("{task.fields[metric]}"), console=out)
    header = Text("", style="bold")
    ended = 0
    if not out.is_terminal:
        return _watch_plain(client, args, out, primary)
    try:
        with Live(Group(header, progress), console=out, auto_refresh=False) as live:
            while True:
                counts = client.health()["counts"]
                now = {r["iid"]: r for r in client.records(status="running", task=args.task)}
                for iid in [i for i in bars if i not in now]:
                    # ended since the last look: a line saying how, and no bar
                    progress.remove_task(bars.pop(iid))
                    ended += 1
                    live.console.print(_ended(client.status(iid), primary))
                for iid, r in now.items():
                    fields = _bar_fields(r, primary)
                    total = r.get("num_epochs") or None
                    if iid not in bars:
                        bars[iid] = progress.add_task(_label(r, tasks.get(r["task"])),
                                                      total=total, **fields)
                    progress.update(bars[iid], total=total, **fields)
                waiting, header.plain = _queue_counts(client, args, counts, len(now))
                live.refresh()
                if not now and not waiting:
                    break
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    return _queue_empty(out, ended)


def _queue_counts(client: Client, args: argparse.Namespace, counts: Mapping[str, int],
                  running: int) -> tuple[int, str]:
    """The jobs waiting (of --task, when given) and the counts line `watch` shows,
    with a line for each task whose jobs wait and that no live worker runs
    (else `watch` would wait for them for ever without a word)."""
    waiting = (client.page(status="waiting", task=args.task, limit=1)["total"]
               if args.task else counts.get("waiting", 0))
    line = (f"running {running}  waiting {waiting}  done {counts.get('done', 0)}  "
            f"failed {counts.get('failed', 0)}  cancelled {counts.get('cancelled', 0)}"
            + (f"  pruned {counts['pruned']}" if counts.get("pruned") else ""))
    if waiting:
        line += "".join(f"\n{t['note']}: its jobs wait until a worker of it starts"
                        for t in client.tasks()
                        if t.get("note") and args.task in (None, t["name"]))
    return waiting, line


def _queue_empty(out, ended: int) -> int:
    out.print(f"the queue is empty ({ended} job{'s' * (ended != 1)} ended while watching)",
              style="dim")
    return 0


def _watch_plain(client: Client, args: argparse.Namespace, out, primary: Mapping[str, str]
                 ) -> int:
    """`watch` piped or redirected (no terminal to redraw bars on): a line
    whenever the counts change, a job starts or finishes an epoch, or ends."""
    seen: dict[str, Any] = {}  # iid -> what its last line said
    last_header, ended = None, 0
    try:
        while True:
            counts = client.health()["counts"]
            now = {r["iid"]: r for r in client.records(status="running", task=args.task)}
            for iid in [i for i in seen if i not in now]:
                seen.pop(iid)
                ended += 1
                out.print(_ended(client.status(iid), primary))
            for iid, r in now.items():
                state = (r.get("epochs_done"), r.get("num_epochs"))
                if seen.get(iid) != state:
                    seen[iid] = state
                    fields = _bar_fields(r, primary)
                    out.print(" ".join(x for x in (
                        f"{iid[:8]} {r['task']} running", f"epochs {fields['epochs']}",
                        fields["metric"], fields["eta"]) if x))
            waiting, header = _queue_counts(client, args, counts, len(now))
            if header != last_header:
                last_header = header
                out.print(header, style="bold")
            out.file.flush()  # a pipe is block-buffered: each line as it happens
            if not now and not waiting:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    return _queue_empty(out, ended)


def _label(r: Mapping[str, Any], task: Mapping[str, Any] | None) -> str:
    """iid, task and what tells the job apart: the hyperparameters that differ
    from the task's defaults (a tracked task has none: its first ones)."""
    hyper = r.get("hyper_params") or {}
    params = (task or {}).get("params") or {}
    changed = {k: v for k, v in hyper.items() if k in params and params[k].get("default") != v}
    shown = list((changed or hyper).items())[:4]
    return f"{r['iid'][:8]} {r['task']} " + " ".join(f"{k}={_text(v)}" for k, v in shown)


def _bar_fields(r: Mapping[str, Any], primary: Mapping[str, str]) -> dict[str, Any]:
    done = float(r.get("epochs_done") or 0)
    p = r.get("progress") or {}
    if p.get("batches") and p.get("batch") is not None:
        done += min(1.0, p["batch"] / p["batches"])
    eta = p.get("eta_seconds")
    name = primary.get(r["task"])
    value = r.get(name) if name else None
    return {"completed": done, "epochs": _epochs(r),
            "eta": f"eta {_duration(eta)}" if eta is not None else "",
            "metric": f"{name} {_show(value)}" if value is not None else ""}


def _ended(record: Mapping[str, Any], primary: Mapping[str, str]) -> str:
    status = record["status"]
    name = primary.get(record["task"])
    value = record.get(name) if name else None
    text = f"{record['iid'][:8]} {record['task']} [{STATUS_STYLE.get(status, '')}]{status}[/]"
    text += f" after {_epochs(record)} epochs"
    if value is not None:
        text += f"  {name} {_show(value)}"
    if record.get("error"):
        text += f"  {_text(record['error'])}"
    return text


# -- runmeta: tags, notes, models ------------------------------------------------------
def tag(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    iid = resolve(client, args.iid)
    add = [c[1:] if c.startswith("+") else c for c in args.changes if not c.startswith("-")]
    remove = [c[1:] for c in args.changes if c.startswith("-")]
    tags = client.tag(iid, add=add, remove=remove) if args.changes else client.status(iid)["tags"]
    print(" ".join(tags) if tags else "(no tags)")
    return 0


def note(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    iid = resolve(client, args.iid)
    if args.text is None:  # like `mltrack tag IID`: show it
        now = client.status(iid).get("note")
        print(now if now is not None else "(no note)")
        return 0
    # stdin's final newline (echo's) is not part of the note
    text = sys.stdin.read().removesuffix("\n") if args.text == "-" else args.text
    now = client.note(iid, text)
    print(now if now is not None else "(no note)")
    return 0


def _unwritable(path: str, force: bool) -> str | None:
    """Why the model cannot be written to `path` (None: it can), said before
    downloading."""
    where = os.path.dirname(path) or "."
    if os.path.isdir(path):
        return f"{path} is a directory: give a file name (-o {os.path.join(path, 'm.mltmodel')})"
    if not os.path.isdir(where):
        return f"cannot write {path}: the folder {where} does not exist"
    if os.path.lexists(path) and not force:
        return f"{path} exists already: --force overwrites it"
    return None


def model(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    iid = resolve(client, args.iid)
    path = args.output or f"{client.status(iid)['task']}-{iid}.mltmodel"
    why = None if path == "-" else _unwritable(path, args.force)
    if why is not None:
        print(f"mltrack: {why}", file=sys.stderr)
        return 1
    data = client.model(iid)
    if path == "-":  # the bytes as they are, for a pipe; the summary on stderr
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        print(f"{len(data):,} bytes", file=sys.stderr)
        return 0
    try:
        with open(path, "wb" if args.force else "xb") as out:  # x: never a silent overwrite
            out.write(data)
    except OSError as exc:
        reason = "exists already: --force overwrites it" if isinstance(exc, FileExistsError) \
            else exc.strerror or str(exc)
        print(f"mltrack: cannot write {path}: {reason}", file=sys.stderr)
        return 1
    print(f"{path} ({len(data):,} bytes)")
    return 0


COMMANDS = {"submit": submit, "ls": ls, "show": show, "watch": watch, "cancel": cancel,
            "retry": retry, "delete": delete, "tag": tag, "note": note, "model": model,
            "search": search_cli.run, "importance": analysis_cli.run}
