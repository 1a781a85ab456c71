"""IVF-PQ: a k-means partition into inverted lists, and a product-quantized residual
per vector.

A vector's list is its nearest centroid; its code is the product quantization of
its residual (the vector minus that centroid). A query reads the records of its
``nprobe`` nearest lists, scores every code with one lookup table, and reranks the
best few by exact cosine. The records live in Redis (:mod:`lshrs.lists`); this
module is the arithmetic, in numpy.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.schemes.base import describe
from lshrs.schemes.codec import METRICS, config_int, digest, unpack_header
from lshrs.schemes.pq import CODEWORDS, ProductQuantizer, adc_sums
from lshrs.schemes.training import (
    ProgressFn,
    check_count,
    faiss_module,
    nearest,
    normalized,
    train_kmeans,
    training_sample,
)

BLOB_MAGIC = b"LSHRSPQ1"
BLOB_HEADER = struct.Struct("<8sIIIIII")
"""magic, dim, nlist, m, nbits (8), metric (0 = L2, 1 = inner product), normalize (0/1)."""
ID_BYTES = 8
"""Each record starts with its id as int64 little-endian."""
POINTS_PER_CENTROID = 64
"""Default training sample for the coarse k-means: 64 vectors per list."""
PQ_TRAINING_VECTORS = 65536
"""Default training sample for the codebooks."""


class IVFPQ:
    """Coarse centroids and PQ codebooks of an IVF-PQ index, and its query settings.

    Build one with :meth:`fit` (train on a sample), :meth:`from_faiss` (a trained
    ``faiss.IndexIVFPQ``) or :meth:`from_blob` (what Redis stores); pass it to
    :class:`lshrs.LSHRS` as ``hasher=``.

    Args:
        centroids: float ``(nlist, dim)``.
        pq: the product quantizer of the residuals (``pq.dim == dim``).
        metric: ``"ip"``: rank by inner product (cosine, with ``normalize``);
            ``"l2"``: rank by Euclidean distance (FAISS's default).
        normalize: scale vectors and queries to unit length first (cosine search).
        nprobe: lists a query reads; a query-time setting, not part of the
            fingerprint.

    Raises:
        ValueError: for inconsistent shapes, non-finite values or a bad setting.

    Example:
        >>> sample = np.random.default_rng(0).standard_normal((3000, 16))
        >>> ivf = IVFPQ.fit(sample, nlist=8, m=4, nprobe=2, iterations=4, backend="numpy")
        >>> lists, codes = ivf.encode(sample[:2].astype(np.float32))
        >>> lists.shape, codes.shape, ivf.record_bytes
        ((2,), (2, 4), 12)
    """

    scheme = "ivfpq"
    num_bands = 1

    def __init__(
        self,
        centroids: npt.ArrayLike,
        pq: ProductQuantizer,
        *,
        metric: str = "ip",
        normalize: bool = True,
        nprobe: int = 1,
    ) -> None:
        array = np.ascontiguousarray(centroids, dtype=np.float32)
        if array.ndim != 2 or min(array.shape) < 1:
            raise ValueError(f"centroids must have shape (nlist, dim), got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("centroids contain NaN or inf")
        if pq.dim != array.shape[1]:
            raise ValueError(f"codebooks are for dim {pq.dim}, centroids for {array.shape[1]}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        self.centroids: npt.NDArray[np.float32] = array
        self.nlist, self.dim = (int(size) for size in array.shape)
        check_count(self.nlist, "nlist", 1, 2**31)
        self.pq = pq
        self.metric = metric
        self.normalize = bool(normalize)
        self.nprobe = check_count(nprobe, "nprobe", 1, self.nlist)
        self.code_bytes = pq.m
        self.record_bytes = ID_BYTES + pq.m
        self._blob = self._make_blob()
        self._digest = digest(self._blob)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        vectors: npt.ArrayLike,
        nlist: int = 1024,
        m: int | None = None,
        *,
        nprobe: int | None = None,
        iterations: int = 10,
        seed: int = 0,
        backend: str = "auto",
        progress: ProgressFn | None = None,
    ) -> IVFPQ:
        """Train the lists (spherical k-means) and the residual codebooks on a sample.

        Vectors are normalised (cosine search). The coarse k-means uses at most
        ``64 * nlist`` of them, the codebooks at most 65,536 residuals.

        Args:
            vectors: float ``(n, dim)``, ``n >= nlist`` and ``n >= 256``.
            nlist: inverted lists.
            m: bytes per code; must divide ``dim``. Default ``dim / 8`` (8
                coordinates per byte), or the largest divisor of ``dim`` below it.
            nprobe: lists per query; default ``max(1, nlist // 8)``.
            iterations: Lloyd iterations of each k-means (10 recalled as well as 20 on
                both real corpora in docs/benchmarks.md, in half the time).
            seed: seed of sampling and initialisation.
            backend: ``"auto"`` (faiss when installed), ``"numpy"`` or ``"faiss"``.
            progress: ``progress(iteration, iterations, mse)`` per iteration.

        Raises:
            ValueError: for bad arguments or too few vectors.
        """
        array = np.asarray(vectors)
        if array.ndim != 2:
            raise ValueError(f"vectors must have shape (n, dim), got {array.shape}")
        dim = array.shape[1]
        nlist = check_count(nlist, "nlist", 1, 2**31)
        m = default_code_bytes(dim) if m is None else check_count(m, "m", 1, dim)
        if dim % m:
            raise ValueError(f"m={m} bytes per code must divide dim={dim}")
        nprobe = check_count(max(1, nlist // 8) if nprobe is None else nprobe, "nprobe", 1, nlist)
        if array.shape[0] < max(nlist, CODEWORDS):
            raise ValueError(
                f"training IVF-PQ with nlist={nlist} needs at least {max(nlist, CODEWORDS)} "
                f"vectors, got {array.shape[0]}; pass more vectors or a smaller nlist"
            )
        coarse_sample = training_sample(array, POINTS_PER_CENTROID * nlist, seed)
        centroids = train_kmeans(
            coarse_sample,
            nlist,
            spherical=True,
            iterations=iterations,
            seed=seed,
            backend=backend,
            progress=progress,
        )
        pq_sample = training_sample(array, PQ_TRAINING_VECTORS, seed + 1)
        labels = nearest(pq_sample, centroids, inner_product=True)[0][:, 0]
        residuals = pq_sample - centroids[labels]
        pq = ProductQuantizer.train(
            residuals, m, iterations=iterations, seed=seed, backend=backend, progress=progress
        )
        return cls(centroids, pq, metric="ip", normalize=True, nprobe=nprobe)

    @classmethod
    def from_faiss(cls, index: Any, nprobe: int | None = None) -> IVFPQ:
        """The centroids and codebooks of a trained ``faiss.IndexIVFPQ``.

        Codes keep their meaning, so FAISS's inverted lists can be copied as they are
        (:meth:`lshrs.LSHRS.from_faiss_ivfpq`). Vectors are not normalised, as FAISS
        does not normalise them.

        Raises:
            ValueError: if faiss is missing, or the index is not a trained
                ``IndexIVFPQ`` with 8-bit codes of residuals.
        """
        faiss = faiss_module()
        if faiss is None:
            raise ValueError("from_faiss needs faiss: pip install 'lshrs[faiss]'")
        if not isinstance(index, faiss.IndexIVFPQ):
            raise ValueError(f"expected a faiss.IndexIVFPQ, got {type(index).__name__}")
        ivf = index
        if not ivf.is_trained:
            raise ValueError("the FAISS index is not trained: call index.train(vectors) first")
        if ivf.pq.nbits != 8 or not ivf.by_residual:
            raise ValueError("only 8-bit PQ codes of residuals (FAISS's default) can be imported")
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
        books = faiss.vector_to_array(ivf.pq.centroids).reshape(ivf.pq.M, CODEWORDS, -1)
        metric = "ip" if ivf.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
        return cls(
            centroids,
            ProductQuantizer(books),
            metric=metric,
            normalize=False,
            nprobe=min(nprobe or ivf.nprobe, ivf.nlist),
        )

    # -- what Redis and saved models hold ----------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly, including a digest of the model."""
        return describe(
            self.scheme,
            self.dim,
            nlist=self.nlist,
            m=self.code_bytes,
            metric=self.metric,
            normalize=int(self.normalize),
            model=self._digest,
        )[0]

    def config_fields(self) -> dict[str, str]:
        """The configuration as stored in the index's ``cfg`` hash."""
        return {
            **describe(self.scheme, self.dim)[1],
            "nlist": str(self.nlist),
            "code_bytes": str(self.code_bytes),
            "record_bytes": str(self.record_bytes),
            "metric": self.metric,
            "normalize": str(int(self.normalize)),
            "nprobe": str(self.nprobe),
            "model_sha256_16": self._digest,
            "model_layout": "LSHRSPQ1 header <8sIIIIII, then float32-le centroids "
            "(nlist, dim), then float32-le codebooks (m, 256, dim / m)",
        }

    def model_blob(self) -> bytes:
        """Header, centroids and codebooks, as stored at ``<root>model``.

        Layout: 8 bytes ``b"LSHRSPQ1"``; uint32-le ``dim``, ``nlist``, ``m``,
        ``nbits`` (8), ``metric`` (0 = L2, 1 = inner product), ``normalize`` (0/1);
        float32-le centroids ``(nlist, dim)``; float32-le codebooks ``(m, 256, dim/m)``.
        """
        return self._blob

    def _make_blob(self) -> bytes:
        header = BLOB_HEADER.pack(
            BLOB_MAGIC,
            self.dim,
            self.nlist,
            self.code_bytes,
            8,
            METRICS.index(self.metric),
            int(self.normalize),
        )
        return header + self.centroids.astype("<f4").tobytes() + self.pq.codebooks.tobytes()

    @classmethod
    def from_redis_config(cls, cfg: dict[str, str], blob: bytes) -> IVFPQ:
        """The model an index's model blob holds, with the ``nprobe`` its ``cfg`` stores."""
        return cls.from_blob(blob, nprobe=config_int(cfg, "nprobe", default=1))

    @classmethod
    def from_blob(cls, blob: bytes, nprobe: int = 1) -> IVFPQ:
        """The model whose :meth:`model_blob` is ``blob``.

        Raises:
            ValueError: if the blob is not an IVF-PQ model of a consistent size.
        """
        dim, nlist, m, nbits, metric, normalize = unpack_header(
            blob, BLOB_HEADER, BLOB_MAGIC, "IVF-PQ"
        )
        body = np.frombuffer(blob, dtype="<f4", offset=BLOB_HEADER.size)
        if nbits != 8 or metric >= len(METRICS) or m < 1 or dim % m:
            raise ValueError("IVF-PQ model blob has a bad header")
        if body.size != nlist * dim + CODEWORDS * dim:
            raise ValueError("IVF-PQ model blob is truncated")
        centroids = body[: nlist * dim].reshape(nlist, dim)
        books = body[nlist * dim :].reshape(m, CODEWORDS, dim // m)
        return cls(
            centroids,
            ProductQuantizer(books),
            metric=METRICS[metric],
            normalize=bool(normalize),
            nprobe=min(max(1, nprobe), nlist),
        )

    def to_model(self) -> dict[str, Any]:
        """JSON-serialisable parameters: the model blob in base64, and ``nprobe``."""
        return {"blob": base64.b64encode(self._blob).decode("ascii"), "nprobe": self.nprobe}

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> IVFPQ:
        """The model :meth:`to_model` describes.

        Raises:
            ValueError: if ``model`` is not such a description.
        """
        try:
            blob = base64.b64decode(str(model["blob"]).encode("ascii"), validate=True)
            nprobe = int(model["nprobe"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an IVF-PQ model description: {error}") from error
        return cls.from_blob(blob, nprobe=nprobe)

    # -- arithmetic --------------------------------------------------------------------

    def prepare(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Vectors as the index sees them: unit length when ``normalize``."""
        return normalized(vectors) if self.normalize else vectors

    def encode(
        self, vectors: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        """Lists and codes of validated float32 ``(n, dim)`` vectors.

        Returns:
            ``(lists, codes)``: int64 ``(n,)`` list numbers and uint8 ``(n, m)`` codes.
        """
        prepared = self.prepare(vectors)
        lists = nearest(prepared, self.centroids, inner_product=self.metric == "ip")[0][:, 0]
        return lists, self.pq.encode(prepared - self.centroids[lists])

    def records(
        self, ids: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.uint8]:
        """Records as Redis stores them: uint8 ``(n, record_bytes)``, the id as
        int64 little-endian, then the code."""
        out = np.empty((ids.size, self.record_bytes), dtype=np.uint8)
        out[:, :ID_BYTES] = ids.astype("<i8").view(np.uint8).reshape(-1, ID_BYTES)
        out[:, ID_BYTES:] = codes
        return out

    def split_records(self, blob: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        """Inverse of :meth:`records` for bytes as Redis returns them: int64 ids
        ``(n,)`` and uint8 codes ``(n, code_bytes)``."""
        records = np.frombuffer(blob, dtype=np.uint8).reshape(-1, self.record_bytes)
        ids = np.ascontiguousarray(records[:, :ID_BYTES]).view("<i8").ravel().astype(np.int64)
        return ids, records[:, ID_BYTES:]

    def probe(
        self, queries: npt.NDArray[np.float32], nprobe: int | None = None
    ) -> npt.NDArray[np.int64]:
        """The ``nprobe`` lists nearest to each prepared query, nearest first.

        Args:
            queries: float32 ``(dim,)`` or ``(n, dim)``, prepared (:meth:`prepare`).
            nprobe: lists per query; default :attr:`nprobe`.

        Returns:
            int64 ``(nprobe,)`` for one query, ``(n, nprobe)`` for several.
        """
        count = min(self.nlist, nprobe or self.nprobe)
        rows = queries.reshape(-1, self.dim)
        lists: npt.NDArray[np.int64] = nearest(
            rows, self.centroids, count, inner_product=self.metric == "ip"
        )[0]
        return lists[0] if queries.ndim == 1 else lists

    def score(
        self,
        query: npt.NDArray[np.float32],
        lists: npt.NDArray[np.int64],
        blobs: list[bytes],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Approximate scores of the records of ``lists`` (higher is nearer).

        Args:
            query: prepared float32 ``(dim,)``.
            lists: the probed lists.
            blobs: each list's records as Redis returns them, in the order of ``lists``.

        Returns:
            ``(ids, scores)``: int64 and float32 ``(n,)``. With ``metric="ip"`` the
            score estimates the inner product; with ``"l2"`` it is minus the
            estimated squared distance.
        """
        sizes = np.fromiter((len(blob) for blob in blobs), dtype=np.int64, count=len(blobs))
        if sizes.sum() == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids, codes = self.split_records(b"".join(blobs))
        owner = np.repeat(np.arange(len(blobs)), sizes // self.record_bytes)
        if self.metric == "ip":
            table = self.pq.inner_product_table(query).ravel()
            scores = adc_sums(table, codes, 0) + (self.centroids[lists] @ query)[owner]
        else:
            residuals = query - self.centroids[lists]
            tables = self.pq.distance_tables(residuals).ravel()
            base = owner * (self.code_bytes * CODEWORDS)
            distances = adc_sums(tables, codes, base)
            distances += np.einsum("ij,ij->i", residuals, residuals)[owner]
            scores = -distances
        return ids, scores.astype(np.float32, copy=False)


def default_code_bytes(dim: int) -> int:
    """Bytes per code for ``dim``: ``dim / 8``, or the largest divisor of ``dim`` below it."""
    target = max(1, dim // 8)
    return max(m for m in range(1, target + 1) if dim % m == 0)
