"""Product quantization moved to :mod:`lshrs.schemes.pq`; this path is kept for one release."""

from lshrs.schemes.pq import CODEWORDS, ProductQuantizer

__all__ = ["CODEWORDS", "ProductQuantizer"]
