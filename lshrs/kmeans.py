"""k-means training moved to :mod:`lshrs.schemes.training`; this path is kept for one release."""

from lshrs.schemes.training import (
    ProgressFn,
    faiss_module,
    nearest,
    normalized,
    stderr_progress,
    train_kmeans,
)

__all__ = ["ProgressFn", "faiss_module", "nearest", "normalized", "stderr_progress", "train_kmeans"]
