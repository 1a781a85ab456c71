"""k-means (IVF) buckets: a band's signature is the number of the nearest centroid.

A trained partition of the space replaces random hyperplanes; probing the ``nprobe``
nearest centroids is multi-probe. Buckets, reverse index, Lua scripts and the
one-round-trip query are those of the hyperplane scheme.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.keys import bucket_codes
from lshrs.schemes.base import describe
from lshrs.schemes.codec import (
    METRICS,
    array_from_text,
    array_to_text,
    config_int,
    digest,
    label_width,
    labels_to_bytes,
    model_field,
    unpack_header,
)
from lshrs.schemes.training import (
    POINTS_PER_CENTROID,
    ProgressFn,
    check_count,
    faiss_module,
    nearest,
    normalized,
    stderr_progress,
    train_kmeans,
    training_sample,
)

BLOB_MAGIC = b"LSHRSKM1"
BLOB_HEADER = struct.Struct("<8sIIII")
"""magic, num_bands, nlist, dim, metric (0 = L2, 1 = inner product); all little-endian."""


class KMeansHasher:
    """IVF bucketing: ``num_bands`` independent k-means partitions of ``nlist`` lists.

    Vectors are normalised to unit length (the index ranks by cosine), then each
    band's signature is the number of its nearest centroid, as a big-endian uint16
    (uint32 when ``nlist`` > 65,536). A query reads its ``nprobe`` nearest lists in
    every band, plus ``extra_probes`` more over all bands, nearest first (by how much
    farther the list is than the band's nearest). With one band every candidate
    collides once, so rank them by exact cosine (top-p queries); with several bands
    the collision count ranks them too.

    Build one with :meth:`fit` (train on a sample) or :meth:`from_faiss`; the
    constructor takes ready centroids.

    Args:
        centroids: float ``(nlist, dim)`` or ``(num_bands, nlist, dim)``.
        nprobe: lists read per band per query, 1 to ``nlist``; a query-time setting,
            not part of the fingerprint (change it on a live index freely).
        metric: ``"l2"`` (nearest centroid by Euclidean distance) or ``"ip"`` (by
            inner product; for unit-length centroids both agree).

    Raises:
        ValueError: for a bad shape, non-finite centroids, ``nprobe`` or ``metric``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sample = rng.standard_normal((400, 8)).astype(np.float32)
        >>> hasher = KMeansHasher.fit(sample, nlist=16, nprobe=2, iterations=5,
        ...                           backend="numpy")
        >>> hasher.hash_batch(sample[:3]).shape
        (3, 1, 2)
        >>> len(hasher.probe_codes(sample[0]))
        2
    """

    scheme = "kmeans"

    def __init__(self, centroids: npt.ArrayLike, nprobe: int = 1, metric: str = "ip") -> None:
        array = np.asarray(centroids, dtype=np.float32)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or min(array.shape) < 1:
            raise ValueError(
                f"centroids must have shape (nlist, dim) or (num_bands, nlist, dim), "
                f"got {np.shape(centroids)}"
            )
        if not np.isfinite(array).all():
            raise ValueError("centroids contain NaN or inf")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.num_bands, self.nlist, self.dim = (int(size) for size in array.shape)
        check_count(self.num_bands, "num_bands", 1, 65535)
        self.centroids: npt.NDArray[np.float32] = np.ascontiguousarray(array)
        self.metric = metric
        self.nprobe = check_count(nprobe, "nprobe", 1, self.nlist)
        self.sig_bytes = label_width(self.nlist)
        self._blob = self._make_blob()

    # -- construction ------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        vectors: npt.ArrayLike,
        nlist: int = 1024,
        *,
        num_bands: int = 1,
        nprobe: int | None = None,
        iterations: int = 20,
        max_training_vectors: int | None = None,
        seed: int = 0,
        backend: str = "auto",
        progress: ProgressFn | None = None,
    ) -> KMeansHasher:
        """Train ``num_bands`` spherical k-means partitions on a sample.

        Band ``b`` is trained with seed ``seed + b`` on its own random sample, so the
        partitions differ. Cost per band: ``iterations`` products of
        ``(sample, dim) x (dim, nlist)``.

        Args:
            vectors: float ``(n, dim)`` training vectors (normalised here).
            nlist: lists (centroids) per band, 1 to 2**32 - 1.
            num_bands: independent partitions.
            nprobe: lists a query reads per band (see the class); default
                ``min(16, nlist)``.
            iterations: Lloyd iterations.
            max_training_vectors: sample size per band; default ``256 * nlist``.
            seed: seed of sampling and initialisation.
            backend: ``"auto"`` (faiss when installed), ``"numpy"`` or ``"faiss"``.
            progress: ``progress(iteration, iterations, mse)`` per iteration of the
                numpy backend; by default a line on stderr when it is a terminal.

        Returns:
            The trained hasher (``metric="ip"``: centroids have unit length).

        Raises:
            ValueError: for bad arguments or fewer vectors than ``nlist``.

        Example:
            >>> sample = np.random.default_rng(1).standard_normal((300, 4))
            >>> KMeansHasher.fit(sample, nlist=8, nprobe=2, backend="numpy").nlist
            8
        """
        nlist = check_count(nlist, "nlist", 1, 2**32 - 1)
        num_bands = check_count(num_bands, "num_bands", 1, 65535)
        nprobe = check_count(min(16, nlist) if nprobe is None else nprobe, "nprobe", 1, nlist)
        check_count(iterations, "iterations", 1, 10_000)
        size = POINTS_PER_CENTROID * nlist
        if max_training_vectors is not None:
            size = check_count(max_training_vectors, "max_training_vectors", 1, 2**40)
        bands = []
        for band in range(num_bands):
            sample = training_sample(vectors, size, seed + band)
            report = progress or stderr_progress(f"k-means band {band + 1}/{num_bands}")
            bands.append(
                train_kmeans(
                    sample,
                    nlist,
                    spherical=True,
                    iterations=iterations,
                    seed=seed + band,
                    backend=backend,
                    progress=report,
                )
            )
        return cls(np.stack(bands), nprobe=nprobe, metric="ip")

    @classmethod
    def from_faiss(cls, index: Any, nprobe: int | None = None) -> KMeansHasher:
        """The k-means scheme of a trained FAISS IVF index's coarse quantizer.

        Works for ``IndexIVFFlat``, ``IndexIVFPQ`` and any index
        ``faiss.extract_index_ivf`` finds an IVF in (e.g. behind a pre-transform).
        Only the centroids are used; lshrs normalises vectors, so train the FAISS
        index on unit-length vectors for the lists to mean the same thing.

        Args:
            index: a trained faiss IVF index.
            nprobe: lists per query; default the index's own ``nprobe``.

        Returns:
            A one-band hasher with the index's ``nlist`` centroids and metric.

        Raises:
            ValueError: if faiss is missing, or the index is not a trained IVF index.
        """
        faiss = faiss_module()
        if faiss is None:
            raise ValueError("from_faiss needs faiss: pip install 'lshrs[faiss]'")
        try:
            ivf = faiss.extract_index_ivf(index)
        except RuntimeError as error:
            raise ValueError(f"expected a FAISS IVF index, got {type(index).__name__}") from error
        if not ivf.is_trained:
            raise ValueError("the FAISS index is not trained: call index.train(vectors) first")
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
        metric = "ip" if ivf.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
        return cls(centroids, nprobe=min(nprobe or ivf.nprobe, ivf.nlist), metric=metric)

    # -- the SignatureScheme protocol ----------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly, including a digest of the centroids."""
        return self._describe()[0]

    def config_fields(self) -> dict[str, str]:
        """The configuration as stored in the index's ``cfg`` hash."""
        return {
            **self._describe()[1],
            "num_bands": str(self.num_bands),
            "nlist": str(self.nlist),
            "metric": self.metric,
            "sig_bytes": str(self.sig_bytes),
            "model_sha256_16": digest(self._blob),
            "model_layout": "LSHRSKM1 header <8sIIII, then float32-le (num_bands, nlist, dim)",
        }

    def _describe(self) -> tuple[str, dict[str, str]]:
        return describe(
            self.scheme,
            self.dim,
            bands=self.num_bands,
            nlist=self.nlist,
            metric=self.metric,
            model=digest(self._blob),
        )

    def model_blob(self) -> bytes:
        """The centroids with a header, as stored at ``<root>model``.

        Layout (docs/learned-buckets.md): 8 bytes ``b"LSHRSKM1"``; uint32-le
        ``num_bands``, ``nlist``, ``dim``, ``metric`` (0 = L2, 1 = inner product);
        then ``num_bands * nlist * dim`` float32-le, band-major, row-major.
        """
        return self._blob

    def _make_blob(self) -> bytes:
        header = BLOB_HEADER.pack(
            BLOB_MAGIC, self.num_bands, self.nlist, self.dim, METRICS.index(self.metric)
        )
        return header + self.centroids.astype("<f4").tobytes()

    @classmethod
    def from_redis_config(cls, cfg: dict[str, str], blob: bytes) -> KMeansHasher:
        """The hasher an index's model blob holds, with the ``nprobe`` its ``cfg`` stores."""
        return cls.from_blob(blob, nprobe=config_int(cfg, "nprobe", default=1))

    @classmethod
    def from_blob(cls, blob: bytes, nprobe: int = 1) -> KMeansHasher:
        """The hasher whose :meth:`model_blob` is ``blob``.

        Raises:
            ValueError: if the blob is not a k-means model of a consistent size.
        """
        bands, nlist, dim, metric = unpack_header(blob, BLOB_HEADER, BLOB_MAGIC, "k-means")
        body = blob[BLOB_HEADER.size :]
        if len(body) != 4 * bands * nlist * dim or metric >= len(METRICS):
            raise ValueError("k-means model blob is truncated or has a bad header")
        centroids = np.frombuffer(body, dtype="<f4").reshape(bands, nlist, dim)
        return cls(centroids, nprobe=min(nprobe, nlist), metric=METRICS[metric])

    def to_model(self) -> dict[str, Any]:
        """JSON-serialisable parameters: centroids as base64 float32-le."""
        return {
            "num_bands": self.num_bands,
            "nlist": self.nlist,
            "dim": self.dim,
            "metric": self.metric,
            "nprobe": self.nprobe,
            "centroids": array_to_text(self.centroids),
        }

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> KMeansHasher:
        """The hasher :meth:`to_model` describes.

        Raises:
            ValueError: naming a missing, mistyped or inconsistent field.
        """
        shape = tuple(
            model_field(model, key, int, cls.scheme) for key in ("num_bands", "nlist", "dim")
        )
        text = model_field(model, "centroids", str, cls.scheme)
        centroids = array_from_text(text, shape, "the kmeans scheme_model's 'centroids'")
        return cls(
            centroids,
            nprobe=model_field(model, "nprobe", int, cls.scheme),
            metric=model_field(model, "metric", str, cls.scheme),
        )

    # -- hashing -------------------------------------------------------------------------

    def labels(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Nearest centroid per band: int64 ``(n, num_bands)``."""
        unit = normalized(vectors)
        columns = [
            nearest(unit, band, inner_product=self.metric == "ip")[0][:, 0]
            for band in self.centroids
        ]
        return np.stack(columns, axis=1)

    def hash_batch(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Signatures of validated float32 ``(n, dim)`` vectors.

        Returns:
            uint8 ``(n, num_bands, sig_bytes)``: each band's centroid number, big-endian.
        """
        return labels_to_bytes(self.labels(vectors), self.sig_bytes)

    def code_paths(self, vectors: npt.NDArray[np.float32]) -> list[str]:
        """Each vector's centroid numbers over the bands, joined by ``-`` (``"12-5"``)."""
        return ["-".join(map(str, row)) for row in self.labels(vectors).tolist()]

    def probe_codes(self, vector: npt.NDArray[np.float32], extra_probes: int = 0) -> list[bytes]:
        """Bucket codes a query reads: its nearest list in every band first, then the
        other ``nprobe - 1`` nearest lists of each band, then ``extra_probes`` more
        over all bands; after the first, nearest first by score gap to the band's best.

        Args:
            vector: float32 ``(dim,)``, already validated.
            extra_probes: lists beyond ``nprobe`` per band.

        Returns:
            ``num_bands * nprobe + extra_probes`` distinct codes (at most
            ``num_bands * nlist``).
        """
        unit = normalized(vector.reshape(1, self.dim))
        depth = min(self.nlist, self.nprobe + max(0, extra_probes))
        ranked = [
            nearest(unit, band, depth, inner_product=self.metric == "ip") for band in self.centroids
        ]
        labels = np.stack([found[0][0] for found in ranked])
        gaps = np.stack([found[1][0, :1] - found[1][0] for found in ranked])
        bands = np.repeat(np.arange(self.num_bands), depth).reshape(self.num_bands, depth)
        rank = np.tile(np.arange(depth), (self.num_bands, 1))
        within = rank < self.nprobe
        order = np.lexsort((gaps[within], rank[within] > 0))
        chosen_bands = [bands[within][order]]
        chosen_labels = [labels[within][order]]
        if depth > self.nprobe:
            extra_gaps = gaps[~within]
            take = np.argsort(extra_gaps, kind="stable")[: max(0, extra_probes)]
            chosen_bands.append(bands[~within][take])
            chosen_labels.append(labels[~within][take])
        band_numbers = np.concatenate(chosen_bands)
        signatures = labels_to_bytes(np.concatenate(chosen_labels), self.sig_bytes)
        return bucket_codes(band_numbers, signatures)
