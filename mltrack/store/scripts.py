"""The Lua scripts, one file each in lua/, with lua/helpers.lua put before each."""
from __future__ import annotations

from importlib import resources

import redis
from redis.commands.core import Script


def _lua_files():
    return resources.files("mltrack.store") / "lua"


# Every script in lua/ but the helpers put before each.
NAMES = tuple(sorted(f.name[:-4] for f in _lua_files().iterdir()
                     if f.name.endswith(".lua") and f.name != "helpers.lua"))


def _source(name: str) -> str:
    return (_lua_files() / f"{name}.lua").read_text()


def load_scripts(client: redis.Redis) -> dict[str, Script]:
    """Every script registered on `client` (each is sent to the server on first use)."""
    helpers = _source("helpers")
    return {name: client.register_script(helpers + "\n" + _source(name)) for name in NAMES}
