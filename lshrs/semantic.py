"""Semantic IDs: an indexed id's code path made unique (``"12-5-33"``, ``"12-5-33-1"``).

The code path comes from a learned scheme (:meth:`lshrs.schemes.rq.RQHasher.code_paths`, the
RQ code over all levels; or :meth:`lshrs.schemes.kmeans.KMeansHasher.code_paths`, the list of
each band). Uniqueness is resolved in Redis by ``lua/semantic_id.lua``, atomically,
so concurrent clients never hand out one name twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lshrs.core import IndexCore
from lshrs.protocol import NoConfigError, NotIndexedError
from lshrs.storage import RedisStorage
from lshrs.validation import as_ids, as_vectors, same_length, unique_ids

PAIRS_PER_CALL = 5000


class PathScheme(Protocol):
    """A scheme that names each vector's code path."""

    def code_paths(self, vectors: npt.NDArray[np.float32]) -> list[str]: ...


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SemanticIds:
    """The semantic IDs of one index.

    Args:
        storage: the index's storage (its client and keys).

    Example:
        >>> names = SemanticIds(lsh.storage)  # doctest: +SKIP
    """

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage

    def assign(self, ids: npt.NDArray[np.int64], paths: list[str]) -> list[str]:
        """Give each id a semantic ID (ids that have one keep it). One atomic script
        call per 5,000 ids, all in one pipeline.

        Args:
            ids: int64 ``(n,)``, distinct, indexed.
            paths: their code paths, one per id.

        Returns:
            Each id's semantic ID, in the order of ``ids``.

        Raises:
            ValueError: if an id is not indexed (nothing is written for its call), or
                the index in Redis has another configuration.
            RuntimeError: if the index has no configuration in Redis (cleared).
        """
        fingerprint = self.storage.fingerprint
        id_text = ids.astype(np.bytes_).tolist()
        calls: list[tuple[str, list[Any]]] = []
        for start in range(0, len(id_text), PAIRS_PER_CALL):
            args: list[Any] = [fingerprint]
            for pair in zip(
                id_text[start : start + PAIRS_PER_CALL],
                paths[start : start + PAIRS_PER_CALL],
                strict=True,
            ):
                args += pair
            calls.append(("semantic_id", args))
        try:
            replies = self.storage.protocol.call_many(self.storage.keys.root, calls)
        except NoConfigError as error:
            raise error.with_message(
                f"index {self.storage.prefix!r} has no configuration"
            ) from error
        except NotIndexedError as error:
            raise error.with_message(
                f"id {error.detail} is not indexed: only indexed ids get semantic IDs; "
                "index it first"
            ) from error
        return [_text(name) for reply in replies for name in reply]

    def get(self, index: int) -> str | None:
        """The semantic ID of ``index``, or None if it has none."""
        name = self.storage.client.hget(self.storage.keys.semantic(index), str(index))
        return None if name is None else _text(name)

    def resolve(self, name: str) -> int | None:
        """The id holding semantic ID ``name``, or None if no id holds it."""
        held = self.storage.client.hget(self.storage.keys.semantic_names, name)
        return None if held is None else int(held)


def code_paths(hasher: object, vectors: npt.NDArray[np.float32]) -> list[str]:
    """The code paths of validated vectors under ``hasher``.

    Raises:
        RuntimeError: if the scheme has no code paths (random hyperplanes).
    """
    paths = getattr(hasher, "code_paths", None)
    if paths is None:
        raise RuntimeError(
            f"semantic IDs need a learned scheme (RQHasher or KMeansHasher), this index "
            f"uses {getattr(hasher, 'scheme', type(hasher).__name__)!r}"
        )
    result: list[str] = paths(vectors)
    return result


class SemanticIdMethods(IndexCore):
    """The semantic-ID methods of :class:`lshrs.LSHRS`."""

    _semantic: SemanticIds | None

    def assign_semantic_ids(
        self, indices: Sequence[int] | npt.ArrayLike, vectors: npt.ArrayLike | None = None
    ) -> list[str]:
        """Give indexed ids collision-free semantic IDs from their code paths.

        An id's path is its code under a learned scheme (``"12-5-33"``). The first id
        on a path gets the path itself, later ones ``"12-5-33-1"``, ...; assigned
        atomically in Redis, stable once assigned, released by :meth:`delete` and
        never reused.

        Args:
            indices: indexed ids, distinct.
            vectors: their vectors ``(n, dim)``; when None they are fetched with
                ``vector_fetch_fn``.

        Returns:
            Each id's semantic ID, in the order of ``indices``.

        Raises:
            ValueError: for bad ids or vectors, or an id that is not indexed.
            RuntimeError: for schemes without code paths (hyperplanes, IVF-PQ), or no
                vectors and no ``vector_fetch_fn``.

        Example:
            >>> lsh.assign_semantic_ids([1, 2], vectors)  # doctest: +SKIP
            ['12-5-33', '12-5-33-1']
        """
        ids = unique_ids(as_ids(indices))
        array = as_vectors(self._fetch(ids) if vectors is None else vectors, self.dim)
        same_length(ids, array)
        paths = code_paths(self.hasher, array)
        self._flush_buffer()
        return self._semantic_ids().assign(ids, paths)

    def semantic_id(self, index: int) -> str | None:
        """The semantic ID of ``index``, or None if it has none.

        Raises:
            ValueError: for an id that is not an integer in ``[0, 2**53 - 1]``.
        """
        (checked,) = as_ids([index], "index").tolist()
        self._flush_buffer()
        return self._semantic_ids().get(checked)

    def resolve_semantic_id(self, name: str) -> int | None:
        """The id holding semantic ID ``name``, or None."""
        self._flush_buffer()
        return self._semantic_ids().resolve(name)

    def _semantic_ids(self) -> SemanticIds:
        if self.partitions > 1:
            raise ValueError(
                f"semantic IDs need an unpartitioned index; this one has "
                f"{self.partitions} partitions (open one with partitions=1)"
            )
        if self._semantic is None:
            self._semantic = SemanticIds(self.storage)
        return self._semantic
