"""The Lua scripts of ``lua/``, registered once per client.

Each script is one atomic operation documented in its header and in
``docs/lua-protocol.md``. redis-py's :class:`redis.commands.core.Script` calls them with
EVALSHA and reloads them after a NOSCRIPT (``SCRIPT FLUSH``, a restarted server).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import redis
from redis.commands.core import Script

SCRIPT_NAMES = ("init", "insert", "delete", "query", "move", "clear", "gather")


def _lua_dir() -> Path:
    packaged = Path(__file__).parent / "lua"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "lua"


@cache
def script_source(name: str) -> str:
    """The Lua source of a script by name (``"insert"``, ``"query"``, ...)."""
    return (_lua_dir() / f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Scripts:
    """The registered scripts, bound to one client."""

    init: Script
    insert: Script
    delete: Script
    query: Script
    move: Script
    clear: Script
    gather: Script

    def all(self) -> tuple[Script, ...]:
        return (
            self.init,
            self.insert,
            self.delete,
            self.query,
            self.move,
            self.clear,
            self.gather,
        )

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(*(client.register_script(script_source(name)) for name in SCRIPT_NAMES))
