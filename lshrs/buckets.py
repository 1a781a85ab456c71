"""Bucket indexes in Redis: writes, reads and checks of an index built on band
signatures (random hyperplanes, k-means, RQ).

The inverted lists of IVF-PQ (:mod:`lshrs.lists`) answer the same calls, so the
orchestrating :class:`lshrs.LSHRS` treats both kinds alike.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt

from lshrs.describe import expected_configuration
from lshrs.reads import Found
from lshrs.schemes import SignatureScheme
from lshrs.storage import RedisStorage
from lshrs.verify import VerifyReport, verify_index


class BucketIndex:
    """The buckets of one signature scheme's index in Redis.

    Args:
        storage: the index's storage (client, key names, scripts).
        scheme: the scheme that computes band signatures.
    """

    def __init__(self, storage: RedisStorage, scheme: SignatureScheme) -> None:
        self.storage = storage
        self.scheme = scheme

    def writer(
        self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> Callable[[], int]:
        """Hash validated vectors now; the returned call writes them (returns new ids)."""
        return partial(self.storage.insert_many, ids, self.scheme.hash_batch(vectors))

    def compact(self) -> None:
        """Nothing to do: buckets are sets, which hold no spare capacity."""

    def delete(self, ids: npt.NDArray[np.int64]) -> int:
        """Remove ids (absent ones are skipped); returns how many were removed."""
        return self.storage.delete(ids, self.scheme.num_bands)

    def top(self, queries: npt.NDArray[np.float32], limit: int, extra_probes: int) -> Found:
        """The ``limit`` ids colliding with each query in the most bands, ties by smaller
        id; scores are the collision counts. One round trip per query.
        """
        found: Found = []
        for query in queries:
            codes = self.scheme.probe_codes(query, extra_probes)
            _, ids, counts = self.storage.query(codes, limit)
            found.append((ids, counts.astype(np.float32)))
        return found

    def candidate_count(self, query: npt.NDArray[np.float32], extra_probes: int) -> int:
        """Distinct ids in the buckets a query for ``query`` reads."""
        total, _, _ = self.storage.query(self.scheme.probe_codes(query, extra_probes), 0)
        return total

    def verify(self, repair: bool = False) -> VerifyReport:
        """Check (and optionally repair) memberships, reverse index and count."""
        return verify_index(
            self.storage,
            self.scheme.fingerprint,
            expected_configuration(self.scheme, self.storage.config()),
            self.scheme.model_blob(),
            repair=repair,
        )
