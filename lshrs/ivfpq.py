"""IVF-PQ moved to :mod:`lshrs.schemes.ivfpq`; this path is kept for one release."""

from lshrs.schemes.ivfpq import IVFPQ, default_code_bytes

__all__ = ["IVFPQ", "default_code_bytes"]
