"""Random-hyperplane signatures: one matrix product per batch, bits packed per band."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.keys import bucket_codes
from lshrs.limits import MAX_BANDS, MAX_DIM, MAX_MODEL_BYTES, MAX_ROWS_PER_BAND
from lshrs.schemes.base import describe, lowest
from lshrs.schemes.codec import config_int, model_field, model_list

MAX_PROBE_BITS = 10
"""Multi-probe flips subsets of at most this many least-confident bits per band."""


@dataclass
class HashSignatures:
    """The band signatures of one vector: ``bands[b]`` is band ``b``'s packed bits."""

    bands: list[bytes]


def plane_bits(projection: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """The sign rule of every hyperplane bit: 1 when the projection is positive.

    A projection of exactly zero (a vector on the plane, or at the centre) gives 0,
    as does ``-0.0``. Hashing, probing and multi-probe flips all take their bits from
    here, so a vector on a plane is stored in the bucket its own query reads.

    Args:
        projection: projections on the planes, any shape.

    Returns:
        bool array of the same shape.

    Example:
        >>> plane_bits(np.array([-1.0, 0.0, -0.0, 1e-30], dtype=np.float32))
        array([False, False, False,  True])
    """
    bits: npt.NDArray[np.bool_] = projection > 0
    return bits


@cache
def _flip_subsets(width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every non-empty subset of ``width`` bits as a 0/1 row, and its float32 transpose."""
    subsets = (np.arange(1, 1 << width)[:, None] >> np.arange(width)) & 1
    return subsets, np.ascontiguousarray(subsets.T, dtype=np.float32)


class LSHHasher:
    """Random-projection LSH: ``rows_per_band`` hyperplane bits per band.

    A vector's bit ``j`` is 1 when its dot product with plane ``j`` is positive
    (:func:`plane_bits`; 0 when the vector lies on the plane); two
    vectors at cosine similarity ``s`` agree on a bit with probability
    ``1 - arccos(s) / pi``. Planes are standard normal, drawn from
    ``numpy.random.RandomState(seed)`` (a stream NumPy keeps stable across versions),
    so ``dim`` and ``seed`` regenerate them exactly.

    Args:
        num_bands: number of bands (hash tables), 1 to 1,024.
        rows_per_band: bits per band, 1 to 64.
        dim: vector dimension, 1 to 65,536; the planes (``num_bands * rows_per_band *
            dim`` float32) take at most :data:`lshrs.limits.MAX_MODEL_BYTES`.
        seed: random seed of the planes.
        center: optional shape ``(dim,)`` point subtracted from every vector before
            projecting, usually the corpus mean (see :func:`lshrs.config.corpus.corpus_config`).
            Real embeddings share a common direction, so uncentred planes split them
            unevenly: a few huge buckets and many empty ones. Centring balances the
            buckets. The centre is part of the configuration: the fingerprint names
            its digest, and it is stored in the Redis model blob and in saved models.

    Example:
        >>> import numpy as np
        >>> hasher = LSHHasher(num_bands=4, rows_per_band=8, dim=3, seed=1)
        >>> sigs = hasher.hash_vector(np.array([1.0, 2.0, 3.0]))
        >>> len(sigs.bands), len(sigs.bands[0])
        (4, 1)
    """

    scheme = "hyperplane"

    def __init__(
        self,
        num_bands: int,
        rows_per_band: int,
        dim: int,
        seed: int = 42,
        *,
        center: npt.ArrayLike | None = None,
    ) -> None:
        for name, value, low, high in (
            ("num_bands", num_bands, 1, MAX_BANDS),
            ("rows_per_band", rows_per_band, 1, MAX_ROWS_PER_BAND),
            ("dim", dim, 1, MAX_DIM),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not (0 <= seed < 2**32)
        ):
            raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
        planes_bytes = 4 * int(num_bands) * int(rows_per_band) * int(dim)
        if planes_bytes > MAX_MODEL_BYTES:
            raise ValueError(
                f"{num_bands} bands x {rows_per_band} rows of {dim}-dim planes take "
                f"{planes_bytes:,} bytes, more than the {MAX_MODEL_BYTES:,} an index's "
                "model may hold: use fewer bands or rows, or a smaller dimension"
            )
        self.num_bands = int(num_bands)
        self.rows_per_band = int(rows_per_band)
        self.dim = int(dim)
        self.seed = int(seed)
        self.sig_bytes = (self.rows_per_band + 7) // 8
        bits = self.num_bands * self.rows_per_band
        planes = np.random.RandomState(self.seed).standard_normal((bits, self.dim))
        self.planes: npt.NDArray[np.float32] = np.ascontiguousarray(planes, dtype=np.float32)
        self._planes_t = np.ascontiguousarray(self.planes.T)
        self.center: npt.NDArray[np.float32] | None = None
        self._offset: npt.NDArray[np.float32] | None = None
        if center is not None:
            point = np.asarray(center, dtype=np.float32)
            if point.shape != (self.dim,) or not np.isfinite(point).all():
                raise ValueError(
                    f"center must be a finite vector of shape ({self.dim},), got shape "
                    f"{point.shape}; pass e.g. the corpus mean, vectors.mean(axis=0)"
                )
            self.center = np.ascontiguousarray(point)
            self._offset = self.center @ self._planes_t

    @property
    def center_digest(self) -> str | None:
        """First 16 hex digits of the SHA-256 of the centre's float32-le bytes."""
        if self.center is None:
            return None
        return hashlib.sha256(self.center.astype("<f4").tobytes()).hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly; stored in Redis and checked on every write."""
        name = describe(
            self.scheme, self.dim, bands=self.num_bands, rows=self.rows_per_band, seed=self.seed
        )[0]
        return name if self.center is None else f"{name} center={self.center_digest}"

    def config_fields(self) -> dict[str, str]:
        """The configuration as stored in the index's ``cfg`` hash."""
        fields = {
            **describe(self.scheme, self.dim)[1],
            "num_bands": str(self.num_bands),
            "rows_per_band": str(self.rows_per_band),
            "sig_bytes": str(self.sig_bytes),
            "seed": str(self.seed),
            "model_layout": "float32-le planes, row-major (num_bands*rows_per_band, dim)",
        }
        if self.center is not None:
            fields["center"] = str(self.center_digest)
            fields["model_layout"] += ", then float32-le center (dim,)"
        return fields

    def to_model(self) -> dict[str, Any]:
        """The parameters that regenerate this hasher (planes come from the seed)."""
        model: dict[str, Any] = {
            "num_bands": self.num_bands,
            "rows_per_band": self.rows_per_band,
            "dim": self.dim,
            "seed": self.seed,
        }
        if self.center is not None:
            model["center"] = [float(x) for x in self.center]
        return model

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> LSHHasher:
        """The hasher :meth:`to_model` describes.

        Raises:
            ValueError: naming a missing, mistyped or inconsistent field.
        """
        settings = [
            model_field(model, key, int, cls.scheme)
            for key in ("num_bands", "rows_per_band", "dim", "seed")
        ]
        center = model_list(model, "center", float, cls.scheme) if "center" in model else None
        return cls(*settings, center=center)

    @classmethod
    def from_redis_config(cls, cfg: dict[str, str], blob: bytes) -> LSHHasher:
        """The hasher an index's ``cfg`` hash and model blob describe.

        The planes are regenerated from the seed; a centred hasher's centre is read
        from the end of the blob.

        Raises:
            ValueError: if a field is missing or not an integer, or the blob is too
                short for the centre the ``cfg`` names.
        """
        dim = config_int(cfg, "dim")
        center = None
        if "center" in cfg:
            if len(blob) < 4 * dim:
                raise ValueError("hyperplane model blob is too short to hold its centre")
            center = np.frombuffer(blob[-4 * dim :], dtype="<f4")
        settings = [config_int(cfg, key) for key in ("num_bands", "rows_per_band", "dim", "seed")]
        return cls(*settings, center=center)

    def model_blob(self) -> bytes:
        """The planes (then the centre, if any) as stored in Redis, for clients in
        other languages."""
        blob = self.planes.astype("<f4").tobytes()
        return blob if self.center is None else blob + self.center.astype("<f4").tobytes()

    def project(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Dot products of ``vectors - center`` with every plane: shape
        ``(n, num_bands * rows_per_band)``.

        The centre is subtracted after the product (``v @ P - center @ P``), so
        centring costs one row subtraction, not a copy of the batch.
        """
        projected: npt.NDArray[np.float32] = vectors @ self._planes_t
        if self._offset is not None:
            projected -= self._offset
        return projected

    def hash_batch(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Signatures of a batch.

        Args:
            vectors: float32, shape ``(n, dim)``, already validated.

        Returns:
            uint8 array of shape ``(n, num_bands, sig_bytes)``: each band's bits packed
            most-significant first, zero-padded to whole bytes.
        """
        bits = plane_bits(self.project(vectors))
        return np.packbits(bits.reshape(-1, self.num_bands, self.rows_per_band), axis=-1)

    def hash_vector(self, vector: npt.ArrayLike) -> HashSignatures:
        """Signatures of one vector, one ``bytes`` per band."""
        array = np.asarray(vector, dtype=np.float32).reshape(1, self.dim)
        packed = self.hash_batch(array)[0]
        return HashSignatures(bands=[row.tobytes() for row in packed])

    def probe_codes(self, vector: npt.NDArray[np.float32], extra_probes: int = 0) -> list[bytes]:
        """Bucket codes to read for a query: its own bucket in every band, plus the
        ``extra_probes`` most likely neighbouring buckets over all bands.

        Neighbouring buckets flip the query's least confident bits (smallest
        ``|projection|``); a set of flipped bits scores the sum of their squared
        projections and the lowest scores are probed first (query-directed
        multi-probe, as in Lv et al. 2007 and FALCONN).

        Args:
            vector: float32, shape ``(dim,)``, already validated.
            extra_probes: how many buckets to read beyond one per band.

        Returns:
            ``num_bands + extra_probes`` distinct codes (fewer if the bands have
            fewer neighbours), the query's own buckets first.
        """
        projection = self.project(vector.reshape(1, self.dim))[0]
        bits = plane_bits(projection).reshape(self.num_bands, self.rows_per_band)
        bands = np.arange(self.num_bands)
        codes = bucket_codes(bands, np.packbits(bits, axis=-1))
        if extra_probes <= 0:
            return codes

        margins = np.abs(projection).reshape(self.num_bands, self.rows_per_band)
        width = min(self.rows_per_band, MAX_PROBE_BITS, max(1, extra_probes))
        order = np.argsort(margins, axis=1, kind="stable")[:, :width]
        nearest = np.take_along_axis(margins, order, axis=1) ** 2
        subsets, subsets_t = _flip_subsets(width)
        scores = nearest @ subsets_t
        take = min(extra_probes, scores.size)
        chosen = lowest(scores, take)  # equal scores: band order, then subset order
        band_of, subset_of = np.divmod(chosen, scores.shape[1])

        flips = np.zeros((take, self.rows_per_band), dtype=bool)
        rows = np.arange(take)[:, None]
        flips[rows, order[band_of]] = subsets[subset_of].astype(bool)
        probed = bits[band_of] ^ flips
        packed = np.packbits(probed, axis=-1)
        return codes + bucket_codes(band_of, packed)
