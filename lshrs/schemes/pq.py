"""Product quantization: a vector as ``m`` bytes, one codeword of 256 per subspace.

The ``dim`` coordinates are cut into ``m`` contiguous subvectors of ``dim / m``;
each subspace has its own codebook of 256 codewords, trained by k-means. A code
byte names the nearest codeword of its subspace. Distances and inner products to
coded vectors are sums of ``m`` table lookups (asymmetric distance computation:
the query stays exact).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lshrs.schemes.training import ProgressFn, train_kmeans

CODEWORDS = 256
"""Codewords per subspace: one byte per subspace."""
ENCODE_CHUNK = 64
"""Vectors encoded per block: the ``(m, 64, 256)`` score block stays in cache."""


class ProductQuantizer:
    """Codebooks of a product quantizer.

    Args:
        codebooks: float ``(m, 256, dim / m)``.

    Raises:
        ValueError: for a bad shape or non-finite values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> data = rng.standard_normal((2000, 8)).astype(np.float32)
        >>> pq = ProductQuantizer.train(data, m=4, iterations=4, backend="numpy")
        >>> pq.encode(data[:3]).shape, pq.decode(pq.encode(data[:3])).shape
        ((3, 4), (3, 8))
    """

    def __init__(self, codebooks: npt.ArrayLike) -> None:
        array = np.ascontiguousarray(codebooks, dtype=np.float32)
        if array.ndim != 3 or array.shape[1] != CODEWORDS or min(array.shape) < 1:
            raise ValueError(f"codebooks must have shape (m, 256, dsub), got {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("codebooks contain NaN or inf")
        self.codebooks: npt.NDArray[np.float32] = array
        self.m, _, self.dsub = (int(size) for size in array.shape)
        self.dim = self.m * self.dsub
        self._norms = np.einsum("mkd,mkd->mk", array, array)
        self._half_norms = 0.5 * self._norms
        self._books_t = np.ascontiguousarray(array.transpose(0, 2, 1))

    @classmethod
    def train(
        cls,
        vectors: npt.NDArray[np.float32],
        m: int,
        *,
        iterations: int = 20,
        seed: int = 0,
        backend: str = "auto",
        progress: ProgressFn | None = None,
    ) -> ProductQuantizer:
        """Train one 256-word codebook per subspace with k-means.

        Args:
            vectors: float32 ``(n, dim)`` with ``n >= 256`` and ``dim % m == 0``.
            m: subspaces (bytes per code).
            iterations: Lloyd iterations per subspace.
            seed: seed of the k-means initialisations (subspace ``j`` uses ``seed + j``).
            backend: see :func:`lshrs.schemes.training.train_kmeans`.
            progress: passed on to every subspace's k-means.

        Raises:
            ValueError: if ``dim`` is not a multiple of ``m`` or there are fewer than
                256 vectors.
        """
        n, dim = vectors.shape
        if m < 1 or dim % m:
            raise ValueError(f"the code size m={m} must divide dim={dim}")
        if n < CODEWORDS:
            raise ValueError(f"product quantization needs at least 256 vectors, got {n}")
        dsub = dim // m
        books = [
            train_kmeans(
                np.ascontiguousarray(vectors[:, j * dsub : (j + 1) * dsub]),
                CODEWORDS,
                spherical=False,
                iterations=iterations,
                seed=seed + j,
                backend=backend,
                progress=progress,
            )
            for j in range(m)
        ]
        return cls(np.stack(books))

    def encode(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Codes of float32 ``(n, dim)`` vectors: uint8 ``(n, m)``, nearest codewords."""
        codes = np.empty((vectors.shape[0], self.m), dtype=np.uint8)
        block_rows = min(ENCODE_CHUNK, vectors.shape[0])
        scores = np.empty((self.m, block_rows, CODEWORDS), dtype=np.float32)
        for start in range(0, vectors.shape[0], ENCODE_CHUNK):
            part = vectors[start : start + ENCODE_CHUNK]
            rows = part.shape[0]
            block = np.matmul(
                part.reshape(rows, self.m, self.dsub).transpose(1, 0, 2),
                self._books_t,
                out=scores[:, :rows],
            )
            block -= self._half_norms[:, None, :]
            codes[start : start + rows] = block.argmax(axis=2).T
        return codes

    def decode(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The vectors codes stand for: float32 ``(n, dim)``."""
        parts = self.codebooks[np.arange(self.m), codes.astype(np.intp)]
        return np.ascontiguousarray(parts.reshape(codes.shape[0], self.dim))

    def inner_product_table(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``table[j, k]``: inner product of the query's subvector ``j`` with codeword
        ``k``; a code's inner product with the query is the sum of its ``m`` entries.

        Args:
            query: float32 ``(dim,)``.

        Returns:
            float32 ``(m, 256)``.
        """
        table: npt.NDArray[np.float32] = np.einsum(
            "md,mkd->mk", query.reshape(self.m, self.dsub), self.codebooks
        )
        return table

    def distance_tables(self, residuals: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Squared-L2 tables for several query residuals, without their constant term.

        ``table[i, j, k] = |c_jk|^2 - 2 <r_ij, c_jk>``, so the squared distance from
        residual ``r_i`` to a code is ``|r_i|^2`` plus the sum of its ``m`` entries.

        Args:
            residuals: float32 ``(p, dim)``.

        Returns:
            float32 ``(p, m, 256)``.
        """
        parts = residuals.reshape(-1, self.m, self.dsub).transpose(1, 0, 2)
        products = np.matmul(parts, self.codebooks.transpose(0, 2, 1))
        tables: npt.NDArray[np.float32] = self._norms[:, None, :] - 2.0 * products
        return np.ascontiguousarray(tables.transpose(1, 0, 2))


def adc_sums(
    table: npt.NDArray[np.float32],
    codes: npt.NDArray[np.uint8],
    base: npt.NDArray[np.int64] | int,
) -> npt.NDArray[np.float32]:
    """Sum over each row of ``codes`` of ``table[base + j * 256 + code_j]``: the
    asymmetric distance computation, as one gather and one row sum (indices as narrow
    as the table allows)."""
    width = np.uint16 if table.size <= 1 << 16 else np.uint32
    index = codes.astype(width)
    index += (np.arange(codes.shape[1]) * CODEWORDS).astype(width)
    if not isinstance(base, int):
        index += base.astype(width)[:, None]
    summed: npt.NDArray[np.float32] = table.take(index).sum(axis=1, dtype=np.float32)
    return summed
