"""Former home of the Lua scripts; :mod:`lshrs.protocol` owns them now.

Kept so that old imports work: :func:`script_source` and :data:`SCRIPT_NAMES` are
:mod:`lshrs.protocol`'s, and :class:`Scripts` names the bucket-index scripts of a
:class:`~lshrs.protocol.Protocol` by attribute (``RedisStorage.scripts``). Nothing here
registers or reads a script itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import redis
from redis.commands.core import Script

from lshrs.protocol import SCRIPT_NAMES, Protocol, script_source

__all__ = ["SCRIPT_NAMES", "Scripts", "script_source"]


@dataclass(frozen=True)
class Scripts:
    """The bucket-index scripts of one :class:`~lshrs.protocol.Protocol`, by name."""

    init: Script
    insert: Script
    delete: Script
    query: Script
    move: Script
    clear: Script
    gather: Script

    def all(self) -> tuple[Script, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))

    @classmethod
    def of(cls, protocol: Protocol) -> Scripts:
        """The scripts ``protocol`` registered (the same objects, nothing new)."""
        return cls(*(protocol.scripts[field.name] for field in fields(cls)))

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls.of(Protocol(client))
