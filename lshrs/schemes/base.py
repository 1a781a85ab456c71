"""What a bucket signature scheme provides, and the model format version all schemes share.

A scheme turns vectors into one bucket signature per band. Random hyperplanes
(:class:`lshrs.schemes.hyperplane.LSHHasher`) are the default; learned schemes plug
into the same buckets, scripts and queries by implementing this protocol.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1
"""Version of the stored configuration and of saved model files."""


@runtime_checkable
class SignatureScheme(Protocol):
    """Computes band signatures; everything else about the index is shared."""

    scheme: str
    """Short name, stored in Redis and in saved models (``"hyperplane"``, ...)."""
    dim: int
    num_bands: int
    sig_bytes: int

    @property
    def fingerprint(self) -> str:
        """Names the configuration exactly; two schemes with equal fingerprints must
        compute identical signatures."""
        ...

    def config_fields(self) -> dict[str, str]:
        """Fields stored in the index's ``cfg`` hash; must include ``num_bands`` and
        ``sig_bytes``."""
        ...

    def model_blob(self) -> bytes:
        """Bytes stored at ``<root>model`` so other clients can compute signatures."""
        ...

    def hash_batch(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
        """Signatures of validated float32 ``(n, dim)`` vectors:
        uint8 ``(n, num_bands, sig_bytes)``."""
        ...

    def probe_codes(self, vector: npt.NDArray[np.float32], extra_probes: int = 0) -> list[bytes]:
        """Distinct bucket codes a query reads: its own bucket per band first."""
        ...

    def to_model(self) -> dict[str, Any]:
        """JSON-serialisable parameters from which :meth:`from_model` rebuilds it."""
        ...

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> SignatureScheme:
        """The scheme :meth:`to_model` describes."""
        ...


def describe(scheme: str, dim: int, **settings: object) -> tuple[str, dict[str, str]]:
    """A scheme's fingerprint and the head of its ``cfg`` fields, in the one format all
    schemes share: ``lshrs/<format version> <scheme> dim=<dim> <name>=<value> ...``.

    Example:
        >>> describe("rq", 8, levels="4x4", depth=2)[0]
        'lshrs/1 rq dim=8 levels=4x4 depth=2'
    """
    named = " ".join(f"{name}={value}" for name, value in settings.items())
    fields = {"format_version": str(FORMAT_VERSION), "scheme": scheme, "dim": str(dim)}
    return f"lshrs/{FORMAT_VERSION} {scheme} dim={dim} {named}", fields


def lowest(values: npt.NDArray[np.floating], count: int) -> npt.NDArray[np.intp]:
    """Flat positions of the ``count`` lowest values, lowest first; equal values in
    position order. Every client ranks probes this way (docs/computing-codes.md).

    Example:
        >>> lowest(np.array([[0.5, 0.1], [0.1, 0.9]]), 3)
        array([1, 2, 0])
    """
    flat = values.ravel()
    cut = np.partition(flat, count - 1)[count - 1]
    chosen = np.flatnonzero(flat <= cut)
    ranked: npt.NDArray[np.intp] = chosen[np.lexsort((chosen, flat[chosen]))][:count]
    return ranked
