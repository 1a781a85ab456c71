"""Waiting for replicas after a write (``WAIT``), on the connection that wrote.

Redis replicates asynchronously: a write is acknowledged once the master has applied
it, and a master that fails before its replicas received the write loses it when a
replica takes over. ``WAIT n timeout`` blocks until ``n`` replicas confirmed every
write the same connection made, so it is queued in one pipeline with the write.
It narrows the loss window; it does not make Redis strongly consistent (a replica
that confirmed may still not be the one promoted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.cluster import RedisCluster

READ_ONLY_SCRIPTS = frozenset(
    {"query", "gather", "ivf_scan", "verify", "verify_part", "ivf_verify"}
)
"""Scripts not followed by the wait: the reads, and the checks (whose repairs are
not waited for); every other script call is."""
WAIT_TIMEOUT_MS = 1000
"""How long one write waits for its replicas before :class:`NotReplicatedError`."""


class NotReplicatedError(RuntimeError):
    """A write was applied by the master, but fewer replicas than asked confirmed it
    within the timeout: it may be lost if the master fails now."""

    def __init__(self, root: bytes, confirmed: int, wanted: int) -> None:
        self.confirmed = confirmed
        self.wanted = wanted
        super().__init__(
            f"a write to {root.decode(errors='backslashreplace')} was confirmed by "
            f"{confirmed} of the {wanted} replica(s) asked (wait_replicas) within "
            f"{WAIT_TIMEOUT_MS} ms; it is applied on the master. Check the replicas, or "
            "lower wait_replicas"
        )


def node_name(client: Any, root: bytes) -> str:
    """The cluster node holding ``root``'s slot (``host:port``); "" for one server."""
    if not isinstance(client, RedisCluster):
        return ""
    name: str = client.get_node_from_key(root).name  # type: ignore[no-untyped-call]
    return name


@dataclass(frozen=True)
class ReplicaWait:
    """``WAIT replicas timeout`` after writes.

    Args:
        replicas: replicas that must confirm each write, ``>= 1``.
    """

    replicas: int

    def queue(self, pipe: Any, client: Any, root: bytes) -> None:
        """Queue ``WAIT`` on ``pipe`` after the writes already queued there; on a
        cluster it goes to the node that holds ``root``'s slot, with the writes."""
        options: dict[str, Any] = {}
        if isinstance(client, RedisCluster):
            options["target_nodes"] = client.get_node_from_key(root)  # type: ignore[no-untyped-call]
        pipe.execute_command("WAIT", self.replicas, WAIT_TIMEOUT_MS, **options)

    def check(self, confirmed: Any, root: bytes) -> None:
        """Raise :class:`NotReplicatedError` when ``WAIT`` replied fewer replicas."""
        if isinstance(confirmed, Exception):
            raise confirmed
        if int(confirmed) < self.replicas:
            raise NotReplicatedError(root, int(confirmed), self.replicas)
