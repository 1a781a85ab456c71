"""The RQ scheme moved to :mod:`lshrs.schemes.rq`; this path is kept for one release."""

from lshrs.schemes.rq import RQHasher

__all__ = ["RQHasher"]
