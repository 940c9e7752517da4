"""The Lua scripts, one file each in lua/, with lua/helpers.lua put before each."""
from __future__ import annotations

from importlib import resources

import redis
from redis.commands.core import Script


NAMES = ("create", "transition", "claim", "cancel", "record_epoch", "delete", "heartbeat",
         "reap", "register_worker", "live_workers", "list", "search_word", "search_page",
         "search_walk", "search_copy", "search_built", "index_text", "register_task")


def _source(name: str) -> str:
    return (resources.files("mltrack.store") / "lua" / f"{name}.lua").read_text()


def load_scripts(client: redis.Redis) -> dict[str, Script]:
    """Every script registered on `client` (each is sent to the server on first use)."""
    helpers = _source("helpers")
    return {name: client.register_script(helpers + "\n" + _source(name)) for name in NAMES}
