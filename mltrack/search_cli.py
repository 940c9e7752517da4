"""`mltrack search start|ls|show|cancel`: searches from the command line (a
client of a running mltrack, over its REST API; mltrack.cli hooks it in).

    mltrack search start quadratic --space lr=0.01:0.5:log --space method=gd,momentum \\
        --fixed steps=6 --trials 12 --parallel 2 --pruner median
    mltrack search ls
    mltrack search show 3f0c          # an id or its first characters
    mltrack search cancel 3f0c

A --space value is `name=low:high` (a range; `:log` for a log scale) or
`name=a,b,c` (values to choose from); numbers, true and false are read as such.
The server checks everything and names the field it refuses (exit 1).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

from mltrack.client import Client, ClientError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    search = sub.add_parser("search", parents=[common], allow_abbrev=False,
                            help="Optuna searches: start, ls, show, cancel")
    actions = search.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", parents=[common], allow_abbrev=False,
                               help="start a search; prints its id")
    start.add_argument("task", help="the task to search (its hyperparameters: "
                                    "mltrack submit --task TASK --help)")
    start.add_argument("--space", action="append", required=True, metavar="NAME=SPEC",
                       help="a searched hyperparameter: name=low:high[:log] (a range) or "
                            "name=a,b,c (values); repeat it for each")
    start.add_argument("--fixed", action="append", default=[], metavar="NAME=VALUE",
                       help="a hyperparameter every trial has (others: their default)")
    start.add_argument("--trials", type=int, required=True, help="how many trials run")
    start.add_argument("--parallel", type=int, default=1,
                       help="trials at once (default: %(default)s)")
    start.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    start.add_argument("--pruner", choices=PRUNERS, help="stop trials that fall behind")
    start.add_argument("--objective", metavar="METRIC[:min|max]",
                       help="default: the task's primary metric and its goal")
    start.add_argument("--seed", type=int, help="the same trials again with the same seed")
    start.add_argument("--name", help="a label")
    actions.add_parser("ls", parents=[common], allow_abbrev=False, help="every search")
    for name, what in (("show", "a search's progress, best trial and trials"),
                       ("cancel", "no new trials; its waiting and running trials cancelled")):
        one = actions.add_parser(name, parents=[common], allow_abbrev=False, help=what)
        one.add_argument("id", help="a search's id, or its first characters")


def scalar(text: str) -> Any:
    """A command line value as JSON would have it: numbers, true/false, else text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _pair(option: str, text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ClientError(f"{option} {text!r}: give name=value", field=option.lstrip("-"))
    return name.strip(), value.strip()


def space_entry(text: str) -> Any:
    """`low:high[:log]` -> a range; `a,b,c` -> a list of values."""
    if ":" in text and "," not in text:
        parts = text.split(":")
        if len(parts) == 3 and parts[2].strip().lower() == "log":
            return {"low": scalar(parts[0]), "high": scalar(parts[1]), "log": True}
        if len(parts) == 2:
            return {"low": scalar(parts[0]), "high": scalar(parts[1]), "log": False}
        raise ClientError(f"--space range {text!r}: give low:high or low:high:log",
                          field="space")
    return [scalar(v) for v in text.split(",")]


def resolve(client: Client, text: str) -> str:
    """A search's full id from it or its first characters (at least 4)."""
    text = text.strip().lower()
    ids = [s["id"] for s in client.searches()]
    if text in ids:
        return text
    if len(text) < 4:
        raise ClientError(f"{text!r} is too short to pick a search: give at least 4 characters "
                          "of its id", 400, "id")
    found = [i for i in ids if i.startswith(text)]
    if len(found) != 1:
        raise ClientError(f"no search with an id starting {text!r}" if not found else
                          f"{text!r} is the start of {len(found)} search ids; give more",
                          404 if not found else 400, "id")
    return found[0]


def _value(value: Any) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _progress(record: Mapping[str, Any]) -> str:
    deleted = record.get("deleted") or 0
    return (f"{record['finished']}/{record['trials']} finished (done {record['done']}, "
            f"pruned {record['pruned']}, failed {record['failed']}, cancelled "
            f"{record['cancelled']}{f'; {deleted} deleted since' if deleted else ''}); "
            f"running {record['running']}, waiting {record['waiting']}")


def run(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    return _run(client, args)  # a closed pipe (`| head`): mltrack.cli.main


def _run(client: Client, args: argparse.Namespace) -> int:
    from rich.markup import escape

    from mltrack.cli import _print_table, console

    out = console()
    if args.action == "start":
        body: dict[str, Any] = {
            "task": args.task, "trials": args.trials, "parallel": args.parallel,
            "sampler": args.sampler, "pruner": args.pruner,
            "space": {n: space_entry(v) for n, v in (_pair("--space", s) for s in args.space)},
            "fixed": {n: scalar(v) for n, v in (_pair("--fixed", f) for f in args.fixed)}}
        if args.objective:
            metric, _, goal = args.objective.partition(":")
            body["objective"] = {"metric": metric, **({"goal": goal} if goal else {})}
        for key in ("seed", "name"):
            if getattr(args, key) is not None:
                body[key] = getattr(args, key)
        record = client.request("POST", "/searches", json=body)
        print(record["id"])
        print(f"search of {record['trials']} trials of task {record['task']} started "
              f"({record['sampler']}, {record['parallel']} at once, objective "
              f"{record['objective']['metric']} {record['objective']['goal']})",
              file=sys.stderr)
        if record.get("note"):
            print(f"note: {record['note']}; its trials wait until one does", file=sys.stderr)
        return 0
    if args.action == "ls":
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        for column in ("id", "name", "task", "status", "finished", "pruned", "best"):
            table.add_column(column)
        for s in client.searches():
            best = s["best"]["value"] if s["best"] else None
            table.add_row(s["id"][:8], escape(s["name"]), s["task"],  # a name is free text
                          s["status"] + (" (no worker)" if s.get("note") else ""),
                          f"{s['finished']}/{s['trials']}", str(s["pruned"]), _value(best))
        _print_table(out, table)
        return 0
    search_id = resolve(client, args.id)
    if args.action == "cancel":
        record = client.cancel_search(search_id)
        print(f"search {search_id} {record['status']}: {_progress(record)}")
        return 0
    return _show(client, search_id, out)


def _show(client: Client, search_id: str, out) -> int:
    from rich.markup import escape
    from rich.table import Table

    from mltrack.cli import _print_table

    s = client.search_status(search_id)
    objective = s["objective"]
    print(f"search {s['id']}{' (' + s['name'] + ')' if s['name'] else ''}: task {s['task']}, "
          f"{s['status']}")
    print(f"  {_progress(s)}")
    if s.get("note"):
        print(f"  note: {s['note']}; its trials wait until one does")
    print(f"  {s['sampler']}, {s['parallel']} at once, pruner {s['pruner'] or 'none'}, "
          f"objective {objective['metric']} ({objective['goal']})")
    if s["best"]:
        print(f"  best: {_value(s['best']['value'])} (trial {s['best']['trial']}, "
              f"{s['best']['iid']})")
    trials = client.search_trials(search_id)
    table = Table(box=None, header_style="bold")
    names = list(s["space"])
    for column in ("trial", "iid", "status", "epochs", objective["metric"], *names):
        table.add_column(column)
    for t in sorted(trials, key=lambda t: t["trial"] if t["trial"] is not None else -1):
        table.add_row(str(t["trial"]), t["iid"][:8], t["status"],
                      f"{t['epochs_done']}/{t['num_epochs'] or '?'}",
                      _value(t.get(objective["metric"])),
                      *(escape(_value(t["hyper_params"].get(n))) for n in names))
    _print_table(out, table)
    return 0
