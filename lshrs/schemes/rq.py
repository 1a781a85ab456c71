"""Residual-quantization (RQ-KMeans) buckets: a bucket is a code prefix at a chosen depth.

Level 0 is k-means on the (unit-length) vectors, level ``l`` is k-means on what the
levels before it left over. A vector's code is one centroid number per level
(``(12, 5, 33)``); its bucket is the first ``depth`` numbers, and its full code is
the path of its semantic ID (``"12-5-33"``). Queries probe a beam of the nearest
prefixes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.keys import bucket_codes
from lshrs.schemes.base import describe, lowest
from lshrs.schemes.codec import (
    array_from_text,
    array_to_text,
    config_int,
    digest,
    labels_to_bytes,
    model_field,
    model_list,
    unpack_header,
)
from lshrs.schemes.training import (
    POINTS_PER_CENTROID,
    ProgressFn,
    check_count,
    nearest,
    normalized,
    stderr_progress,
    train_kmeans,
    training_sample,
)

BLOB_MAGIC = b"LSHRSRQ1"
BLOB_HEADER = struct.Struct("<8sIII")
"""magic, levels, dim, depth; then ``levels`` uint32-le codebook sizes; all little-endian."""
MAX_CODEBOOK = 1 << 16
"""Codes travel as uint16, two bytes per level of the prefix."""


class RQHasher:
    """RQ-KMeans bucketing: one band whose signature is a ``depth``-level code prefix.

    The signature is the first ``depth`` centroid numbers, each a big-endian uint16
    (``sig_bytes = 2 * depth``). A query runs a beam search over the levels and reads
    the ``beam`` prefixes nearest to it (its own greedy prefix first), plus
    ``extra_probes`` more: the beam widens by that many.

    Args:
        codebooks: one float array ``(size_l, dim)`` per level, ``size_l`` up to 65,536.
        depth: levels in a bucket's prefix, 1 to ``len(codebooks)``; deeper means
            smaller buckets (and more probes for the same recall).
        beam: prefixes a query reads; a query-time setting, not part of the fingerprint.

    Raises:
        ValueError: for bad codebooks, ``depth`` or ``beam``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sample = rng.standard_normal((500, 8)).astype(np.float32)
        >>> hasher = RQHasher.fit(sample, codebook_sizes=(8, 4, 4), depth=2, beam=3,
        ...                       iterations=5, backend="numpy")
        >>> hasher.hash_batch(sample[:2]).shape
        (2, 1, 4)
        >>> len(hasher.probe_codes(sample[0]))
        3
    """

    scheme = "rq"

    def __init__(self, codebooks: Sequence[npt.ArrayLike], depth: int, beam: int = 1) -> None:
        books = [np.ascontiguousarray(book, dtype=np.float32) for book in codebooks]
        if not books or any(book.ndim != 2 or book.shape[0] < 1 for book in books):
            raise ValueError("codebooks must be a non-empty list of (size, dim) arrays")
        if len({book.shape[1] for book in books}) != 1:
            raise ValueError(f"codebooks differ in dim: {[book.shape for book in books]}")
        if any(book.shape[0] > MAX_CODEBOOK for book in books):
            raise ValueError(f"codebook sizes must be <= {MAX_CODEBOOK}")
        if not all(np.isfinite(book).all() for book in books):
            raise ValueError("codebooks contain NaN or inf")
        self.codebooks = books
        self.levels = len(books)
        self.dim = int(books[0].shape[1])
        self.depth = check_count(depth, "depth", 1, self.levels)
        self.beam = check_count(beam, "beam", 1, 1 << 20)
        self.num_bands = 1
        self.sig_bytes = 2 * self.depth
        self._half_norms = [0.5 * np.einsum("ij,ij->i", book, book) for book in books]
        self._blob = self._make_blob()

    @classmethod
    def fit(
        cls,
        vectors: npt.ArrayLike,
        codebook_sizes: Sequence[int] = (256, 256, 256),
        *,
        depth: int = 1,
        beam: int = 8,
        iterations: int = 20,
        max_training_vectors: int | None = None,
        seed: int = 0,
        backend: str = "auto",
        progress: ProgressFn | None = None,
    ) -> RQHasher:
        """Train the codebooks level by level on a sample.

        Args:
            vectors: float ``(n, dim)`` training vectors (normalised here).
            codebook_sizes: centroids per level, each 1 to 65,536.
            depth: levels in a bucket's prefix.
            beam: prefixes a query reads.
            iterations: Lloyd iterations per level.
            max_training_vectors: sample size; default ``256 * max(codebook_sizes)``.
            seed: seed of sampling and initialisation.
            backend: ``"auto"`` (faiss when installed), ``"numpy"`` or ``"faiss"``.
            progress: ``progress(iteration, iterations, mse)`` per iteration of the
                numpy backend; by default a stderr line when it is a terminal.

        Returns:
            The trained hasher.

        Raises:
            ValueError: for bad arguments or fewer vectors than a codebook's size.
        """
        sizes = [check_count(size, "codebook size", 1, MAX_CODEBOOK) for size in codebook_sizes]
        if not sizes:
            raise ValueError("codebook_sizes must name at least one level, e.g. (64, 64, 64)")
        check_count(depth, "depth", 1, len(sizes))
        check_count(beam, "beam", 1, 1 << 20)
        sample_size = POINTS_PER_CENTROID * max(sizes)
        if max_training_vectors is not None:
            sample_size = check_count(max_training_vectors, "max_training_vectors", 1, 2**40)
        residual = training_sample(vectors, sample_size, seed)
        books = []
        for level, size in enumerate(sizes):
            report = progress or stderr_progress(f"RQ level {level + 1}/{len(sizes)}")
            book = train_kmeans(
                residual,
                size,
                spherical=False,
                iterations=iterations,
                seed=seed + level,
                backend=backend,
                progress=report,
            )
            residual = residual - book[nearest(residual, book)[0][:, 0]]
            books.append(book)
        return cls(books, depth=depth, beam=beam)

    # -- the SignatureScheme protocol ----------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly, including a digest of the codebooks."""
        sizes = "x".join(str(book.shape[0]) for book in self.codebooks)
        return describe(
            self.scheme, self.dim, levels=sizes, depth=self.depth, model=digest(self._blob)
        )[0]

    def config_fields(self) -> dict[str, str]:
        """The configuration as stored in the index's ``cfg`` hash."""
        return {
            **describe(self.scheme, self.dim)[1],
            "num_bands": "1",
            "codebook_sizes": ",".join(str(book.shape[0]) for book in self.codebooks),
            "depth": str(self.depth),
            "sig_bytes": str(self.sig_bytes),
            "model_sha256_16": digest(self._blob),
            "model_layout": "LSHRSRQ1 header <8sIII, uint32-le sizes, float32-le codebooks",
        }

    def model_blob(self) -> bytes:
        """The codebooks with a header, as stored at ``<root>model``.

        Layout (docs/learned-buckets.md): 8 bytes ``b"LSHRSRQ1"``; uint32-le
        ``levels``, ``dim``, ``depth``; ``levels`` uint32-le codebook sizes; then each
        level's codebook as float32-le ``(size, dim)`` row-major, level 0 first.
        """
        return self._blob

    def _make_blob(self) -> bytes:
        sizes = np.array([book.shape[0] for book in self.codebooks], dtype="<u4")
        body = b"".join(book.astype("<f4").tobytes() for book in self.codebooks)
        header = BLOB_HEADER.pack(BLOB_MAGIC, self.levels, self.dim, self.depth)
        return header + sizes.tobytes() + body

    @classmethod
    def from_redis_config(cls, cfg: dict[str, str], blob: bytes) -> RQHasher:
        """The hasher an index's model blob holds, with the ``beam`` its ``cfg`` stores."""
        return cls.from_blob(blob, beam=config_int(cfg, "beam", default=1))

    @classmethod
    def from_blob(cls, blob: bytes, beam: int = 1) -> RQHasher:
        """The hasher whose :meth:`model_blob` is ``blob``.

        Raises:
            ValueError: if the blob is not an RQ model of a consistent size.
        """
        levels, dim, depth = unpack_header(blob, BLOB_HEADER, BLOB_MAGIC, "RQ")
        offset = BLOB_HEADER.size + 4 * levels
        sizes = np.frombuffer(blob[BLOB_HEADER.size : offset], dtype="<u4").tolist()
        if len(sizes) != levels or len(blob) != offset + 4 * dim * sum(sizes):
            raise ValueError("RQ model blob is truncated or has a bad header")
        books = []
        for size in sizes:
            books.append(np.frombuffer(blob, dtype="<f4", count=size * dim, offset=offset))
            offset += 4 * size * dim
        return cls([book.reshape(-1, dim) for book in books], depth=depth, beam=beam)

    def to_model(self) -> dict[str, Any]:
        """JSON-serialisable parameters: codebooks as base64 float32-le."""
        return {
            "dim": self.dim,
            "depth": self.depth,
            "beam": self.beam,
            "codebook_sizes": [book.shape[0] for book in self.codebooks],
            "codebooks": [array_to_text(book) for book in self.codebooks],
        }

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> RQHasher:
        """The hasher :meth:`to_model` describes.

        Raises:
            ValueError: naming a missing, mistyped or inconsistent field.
        """
        dim = model_field(model, "dim", int, cls.scheme)
        sizes = model_list(model, "codebook_sizes", int, cls.scheme)
        texts = model_list(model, "codebooks", str, cls.scheme)
        if len(sizes) != len(texts):
            raise ValueError(
                f"the rq scheme_model has {len(texts)} codebooks but {len(sizes)} "
                "codebook_sizes; they must pair up: save the model again"
            )
        books = [
            array_from_text(text, (size, dim), f"the rq scheme_model's 'codebooks'[{level}]")
            for level, (text, size) in enumerate(zip(texts, sizes, strict=True))
        ]
        return cls(
            books,
            depth=model_field(model, "depth", int, cls.scheme),
            beam=model_field(model, "beam", int, cls.scheme),
        )

    # -- hashing -------------------------------------------------------------------------

    def encode(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Greedy RQ codes of unit-normalised vectors: int64 ``(n, levels)``."""
        residual = normalized(vectors)
        codes = np.empty((vectors.shape[0], self.levels), dtype=np.int64)
        for level, book in enumerate(self.codebooks):
            codes[:, level] = nearest(residual, book)[0][:, 0]
            residual -= book[codes[:, level]]
        return codes

    def hash_batch(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Signatures: uint8 ``(n, 1, 2 * depth)``, the code prefix as big-endian uint16s."""
        prefix = self.encode(vectors)[:, : self.depth]
        return labels_to_bytes(prefix, 2).reshape(-1, 1, self.sig_bytes)

    def code_paths(self, vectors: npt.NDArray[np.float32]) -> list[str]:
        """Each vector's full code joined by ``-`` (``"12-5-33"``): its semantic-ID path."""
        return ["-".join(map(str, row)) for row in self.encode(vectors).tolist()]

    def probe_codes(self, vector: npt.NDArray[np.float32], extra_probes: int = 0) -> list[bytes]:
        """Bucket codes a query reads: its own prefix, then the nearest others.

        Beam search: at each level every kept prefix is extended by every centroid,
        and the ``beam + extra_probes`` extensions with the smallest residual are kept.

        Args:
            vector: float32 ``(dim,)``, already validated.
            extra_probes: prefixes beyond ``beam``.

        Returns:
            Up to ``beam + extra_probes`` distinct codes, the query's own first.
        """
        width = self.beam + max(0, extra_probes)
        unit = normalized(vector.reshape(1, self.dim))
        own = self.encode(unit)[:, : self.depth]
        prefixes = np.zeros((1, 0), dtype=np.int64)
        residuals = unit
        for level in range(self.depth):
            book = self.codebooks[level]
            # |r - c|^2 = |r|^2 - 2 (r . c - |c|^2 / 2)
            squared = np.einsum("ij,ij->i", residuals, residuals)[:, None]
            distances = squared - 2.0 * (residuals @ book.T - self._half_norms[level])
            keep = min(width, distances.size)
            flat = lowest(distances, keep)  # equal ones: kept prefix, then codeword order
            parent, child = np.divmod(flat, book.shape[0])
            prefixes = np.column_stack([prefixes[parent], child])
            residuals = residuals[parent] - book[child]
        ordered = np.concatenate([own, prefixes])
        _, first = np.unique(ordered, axis=0, return_index=True)
        ordered = ordered[np.sort(first)][:width]
        signatures = labels_to_bytes(ordered, 2).reshape(-1, self.sig_bytes)
        return bucket_codes(np.zeros(len(ordered), dtype=np.int64), signatures)
