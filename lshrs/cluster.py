"""Connecting by URL to one Redis server or to a Redis Cluster.

``redis+cluster://host:port`` (``rediss+cluster://`` with TLS) names any node of a
cluster: redis-py's :class:`redis.cluster.RedisCluster` discovers the others, routes
each call to the master of its key's slot, follows ``MOVED`` redirections and retries
``TRYAGAIN``, connection errors and ``CLUSTERDOWN`` with backoff. Every other URL
(``redis://``, ``rediss://``, ``unix://``) opens one server.

lshrs script calls do not follow ``ASK``: a script declares only its partition's root,
a key that never exists, so ``ASK`` means the partition's slot is migrating, and the
importing node holds only part of the partition. :func:`send_unredirected` returns
such replies to the caller, which waits the migration out
(:meth:`lshrs.protocol.Protocol.call_each`).
"""

from __future__ import annotations

from typing import Any

import redis
from redis._parsers.commands import CommandPolicies, RequestPolicy, ResponsePolicy
from redis.cluster import ClusterPipeline, RedisCluster
from redis.commands.policies import BasePolicyResolver, PolicyResolver, StaticPolicyResolver
from redis.crc import key_slot

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes that mean a cluster, and the scheme redis-py reads in their place."""

Client = redis.Redis | RedisCluster
"""A client lshrs runs on: one server, or a cluster."""


MIGRATION_WAIT_S = 30.0
"""How long a call to a partition whose slot is migrating waits, by default, for the
migration to end before :class:`PartitionMigratingError`."""


def check_migration_wait(seconds: object) -> float:
    """Check a ``migration_wait`` and return it as a float.

    Raises:
        ValueError: unless a number of seconds ``>= 0``.
    """
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 <= seconds < float("inf")
    ):
        raise ValueError(
            f"migration_wait must be a number of seconds >= 0, got {seconds!r}; "
            f"the default is {MIGRATION_WAIT_S:g}"
        )
    return float(seconds)


class PartitionMigratingError(RuntimeError):
    """A partition's slot was migrating between nodes for longer than the client
    waits (``migration_wait``); the calls to that partition did not run."""

    def __init__(self, root: bytes, waited: float, target: str) -> None:
        self.root = root
        self.slot = key_slot(root)
        super().__init__(
            f"the partition {root.decode(errors='backslashreplace')} (slot {self.slot}) "
            f"was migrating to {target} for all of the {waited:g} s this client waits "
            "(migration_wait); its calls did not run. Let the migration finish "
            "(`redis-cli --cluster fix` completes an interrupted one), or raise "
            "migration_wait"
        )


_KEYED = CommandPolicies(
    request_policy=RequestPolicy.DEFAULT_KEYED, response_policy=ResponsePolicy.DEFAULT_KEYED
)


class ScriptPolicies(BasePolicyResolver):
    """Routes EVALSHA by its first key, read from the arguments. redis-py has no
    policy for EVALSHA and, in a pipeline, asks a node ``COMMAND GETKEYS`` for every
    queued call before sending: a round trip per call, and an error when that node is
    the one that failed."""

    def __init__(self, fallback: PolicyResolver | None = None) -> None:
        super().__init__({"core": {"evalsha": _KEYED, "evalsha_ro": _KEYED}}, fallback)

    def with_fallback(self, fallback: PolicyResolver) -> PolicyResolver:
        return ScriptPolicies(fallback)


def route_scripts(client: Any) -> None:
    """Make a cluster client, or a pipeline of one, route EVALSHA by its key without
    asking a node (:class:`ScriptPolicies` in front of its own policies); redis-py's
    pipelines take the default policies, not their client's. Idempotent; does
    nothing to a client of one server."""
    if isinstance(client, (RedisCluster, ClusterPipeline)):
        resolver = client._policy_resolver
        if not isinstance(resolver, ScriptPolicies):
            client._policy_resolver = ScriptPolicies(resolver)


def pipeline(client: Client) -> Any:
    """A non-transactional pipeline of ``client`` that routes scripts by their key."""
    pipe = client.pipeline(transaction=False)
    route_scripts(pipe)
    return pipe


def send_unredirected(pipe: Any) -> list[Any]:
    """Execute a cluster pipeline without following ``ASK`` or ``MOVED``: those
    replies come back as :class:`redis.exceptions.AskError` and
    :class:`redis.exceptions.MovedError`; connection errors and ``TRYAGAIN`` as
    their errors too. Every other reply as :meth:`ClusterPipeline.execute` gives it
    with ``raise_on_error=False``."""
    try:
        return list(
            pipe.send_cluster_commands(
                pipe._execution_strategy.command_queue,
                raise_on_error=False,
                allow_redirections=False,
            )
        )
    finally:
        pipe.reset()


def client_from_url(url: str, **kwargs: Any) -> Client:
    """A client for ``url``: a :class:`RedisCluster` for ``redis+cluster://`` and
    ``rediss+cluster://``, else a :class:`redis.Redis`.

    Args:
        url: the server or cluster URL.
        **kwargs: more client arguments (``decode_responses``, timeouts, ``retry``).

    Raises:
        ValueError: for a cluster URL naming a database other than 0 (a cluster has
            only database 0).

    Example:
        >>> type(client_from_url("redis://localhost:6379/0")).__name__
        'Redis'
    """
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in CLUSTER_SCHEMES:
        path = rest.partition("/")[2].partition("?")[0]
        if path not in ("", "0"):
            raise ValueError(
                f"a Redis Cluster has only database 0, but {url!r} names database {path!r}; "
                "drop the /<db> part"
            )
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}",
            policy_resolver=ScriptPolicies(StaticPolicyResolver()),
            **kwargs,
        )
    return redis.Redis.from_url(url, **kwargs)


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client."""
    return isinstance(client, RedisCluster)
