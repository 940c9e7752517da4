"""`mltrack importance`: which hyperparameters matter, in the terminal (a
client of a running mltrack's GET /analysis; mltrack.cli hooks it in).

    mltrack importance --task mnist                  # every done run of the task
    mltrack importance --task mnist --q "adam" --tag sweep-3
    mltrack importance --search 3f0c                 # a search's trials, by its objective
    mltrack importance --task mnist --metric test_loss
"""
from __future__ import annotations

import argparse
from typing import Any, Mapping

from mltrack.client import Client
from mltrack.search_cli import resolve as resolve_search

BAR_WIDTH = 30


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    from mltrack.cli import STATUSES  # loaded: it is what calls this
    one = sub.add_parser("importance", parents=[common], allow_abbrev=False,
                         help="which hyperparameters matter among a task's done runs or a "
                              "search's trials (Optuna's PED-ANOVA)")
    one.add_argument("--task", help="the task whose runs are compared (or give --search)")
    one.add_argument("--search", metavar="ID", help="a search's trials (its id or its first "
                                                    "characters; mltrack search ls)")
    one.add_argument("--metric", help="the objective (default: the search's, else the "
                                      "task's primary metric)")
    one.add_argument("--status", choices=STATUSES, help="default: done runs")
    one.add_argument("--q", help="words that must all match, as in mltrack ls")
    one.add_argument("--tag", action="append", help="only runs with this tag (repeat it: "
                                                    "with every one)")
    one.add_argument("--evaluator", choices=["ped-anova", "fanova"],
                     help="default: ped-anova (fast); fanova: 16 trees of depth 8")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _params(params: Mapping[str, Any]) -> str:
    """name value, ... as rich prints it: a tracked run's string value is free
    text ("[/x]", "[link=...]"), printed as typed (mltrack.cli._text)."""
    from mltrack.cli import _text

    return ", ".join(f"{name} {_text(value, _value)}" for name, value in params.items())


def run(client: Client, args: argparse.Namespace, rest: list[str]) -> int:
    from rich.bar import Bar
    from rich.table import Table

    from mltrack.cli import console

    search = resolve_search(client, args.search) if args.search else None
    body = client.analysis(args.task, search=search, metric=args.metric, status=args.status,
                           q=args.q, tag=args.tag, evaluator=args.evaluator)
    out = console()
    goal = "minimised" if body["goal"] == "min" else "maximised"
    left = body["left_out"]
    out.print(f"{body['task']}: {body['runs']} done run{'s' if body['runs'] != 1 else ''} "
              f"judged by {body['metric']} ({goal})"
              + (f"; {left} other matching job{'s' if left != 1 else ''} left out (not done "
                 "or without it)" if left else "")
              + ("; the newest 10,000 read" if body["capped"] else ""))
    if body["importance"]:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True)
        for row in body["importance"]:
            table.add_row(row["name"], f"{100 * row['share']:.1f}%",
                          Bar(1.0, 0.0, row["share"], width=BAR_WIDTH))
        out.print(table)
    else:
        out.print(body["message"])
    if body["fixed"]:
        out.print(f"fixed: {_params(body['fixed'])}")
    best = body["best"]
    if best is not None:
        out.print(f"best: {best['iid']} {body['metric']} {_value(best['value'])} "
                  f"({_params(best['hyper_params'])})")
    if body["importance"]:
        out.print(f"(importance: {'fANOVA' if body['evaluator'] == 'fanova' else 'PED-ANOVA'},"
                  " share of the whole)")
    if body.get("caution"):
        out.print(body["caution"], style="yellow")
    return 0
