"""Moved to :mod:`lshrs.config.corpus`; this path is kept for one release."""

from lshrs.config.corpus import CorpusConfig, bucket_reads, calibrate_nprobe, corpus_config

__all__ = ["CorpusConfig", "bucket_reads", "calibrate_nprobe", "corpus_config"]
