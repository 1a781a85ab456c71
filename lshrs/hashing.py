"""Moved to :mod:`lshrs.schemes.hyperplane`; this path is kept for one release."""

from lshrs.keys import bucket_codes as as_codes
from lshrs.schemes.base import FORMAT_VERSION
from lshrs.schemes.hyperplane import MAX_PROBE_BITS, HashSignatures, LSHHasher

__all__ = ["FORMAT_VERSION", "MAX_PROBE_BITS", "HashSignatures", "LSHHasher", "as_codes"]
