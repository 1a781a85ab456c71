"""Choosing an index configuration: bands and rows for a similarity threshold
(:mod:`lshrs.config.bands`), or the index kind, its size and query depth for a corpus
(:mod:`lshrs.config.corpus`).
"""

from lshrs.config.bands import compute_collision_probability, get_optimal_config
from lshrs.config.corpus import CorpusConfig, calibrate_nprobe, corpus_config

__all__ = [
    "CorpusConfig",
    "calibrate_nprobe",
    "compute_collision_probability",
    "corpus_config",
    "get_optimal_config",
]
