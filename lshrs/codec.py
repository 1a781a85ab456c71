"""Model encoding helpers moved to :mod:`lshrs.schemes.codec`; this path is kept for one release."""

from lshrs.schemes.codec import array_from_text, array_to_text, digest, label_width, labels_to_bytes

__all__ = ["array_from_text", "array_to_text", "digest", "label_width", "labels_to_bytes"]
