"""The `mltrack` command (and `python -m mltrack`): which program a command line is for.

`mltrack`, `mltrack serve ...` and `mltrack worker ...` start the server
(`mltrack.serve`); `mltrack submit|ls|show|watch|cancel|retry|delete ...` are
clients of a running one (`mltrack.cli`). Nothing heavy is imported here, so
the client's commands start without loading the server's dash, flask and redis.
"""
from __future__ import annotations

import sys
from typing import Sequence

CLIENT_COMMANDS = ("submit", "ls", "show", "watch", "cancel", "retry", "delete",
                   "tag", "note", "model",  # runmeta: tags, notes, models
                   "search",  # search: mltrack search start|ls|show|cancel
                   "importance")  # analysis_cli: which hyperparameters matter


def is_client_command(argv: Sequence[str]) -> bool:
    """`mltrack COMMAND ...` or `mltrack --url URL COMMAND ...` for a client command."""
    args = list(argv)
    if args[:1] == ["--url"]:
        args = args[2:]
    elif args and args[0].startswith("--url="):
        args = args[1:]
    return bool(args) and args[0] in CLIENT_COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if is_client_command(args):
        from mltrack.cli import main as client_main

        return client_main(args)
    from mltrack.serve import main as serve_main

    return serve_main(args)


if __name__ == "__main__":
    sys.exit(main())
