"""The k-means scheme moved to :mod:`lshrs.schemes.kmeans`; this path is kept for one release."""

from lshrs.schemes.kmeans import KMeansHasher
from lshrs.schemes.training import POINTS_PER_CENTROID, check_count, training_sample

__all__ = ["POINTS_PER_CENTROID", "KMeansHasher", "check_count", "training_sample"]
