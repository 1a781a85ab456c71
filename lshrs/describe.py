"""What an index's ``cfg`` hash says about it, beyond its scheme's own fields.

Two additions make an index self-describing for clients in any language:

- **Query settings** (:data:`QUERY_SETTINGS`): the defaults a query uses (lists or
  buckets probed, rerank depth). Stored when the index is created, read back by
  ``LSHRS.from_redis``; a client may use others, so they are not part of the
  fingerprint and are never reported as a mismatch.
- **A self-check**: ``check_vector`` (a fixed vector, base64 float32-le) and
  ``check_codes`` (hex of what the scheme computes for it). A client that computes them
  differently has misread the model and must not write (docs/computing-codes.md).
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

from lshrs.code_check import computed_codes
from lshrs.limits import MAX_EXTRA_PROBES, MAX_NPROBE, MAX_RERANK_CANDIDATES
from lshrs.schemes import Scheme

QUERY_SETTINGS = ("nprobe", "beam", "extra_probes", "rerank_candidates")
CHECK_SEED = 20261201


def check_vector(dim: int) -> npt.NDArray[np.float32]:
    """The fixed vector of the self-check: standard normal from :data:`CHECK_SEED`."""
    return np.random.default_rng(CHECK_SEED).standard_normal(dim).astype(np.float32)


def check_codes(scheme: Scheme, vector: npt.NDArray[np.float32]) -> str:
    """Hex of what ``scheme`` computes for ``vector``: its band signatures, band 0
    first (bucket schemes), or its list as uint32 big-endian then its code (IVF-PQ)."""
    return computed_codes(scheme, vector.reshape(1, -1))[0].hex()


def description(scheme: Scheme, extra_probes: int, rerank_candidates: int) -> dict[str, str]:
    """Every ``cfg`` field of a new index: the scheme's, the query settings and the
    self-check."""
    vector = check_vector(scheme.dim)
    settings: dict[str, Any] = {
        "extra_probes": extra_probes,
        "rerank_candidates": rerank_candidates,
    }
    for name in ("nprobe", "beam"):
        value = getattr(scheme, name, None)
        if value is not None:
            settings[name] = value
    return {
        **scheme.config_fields(),
        **{name: str(value) for name, value in settings.items()},
        "check_vector": base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii"),
        "check_codes": check_codes(scheme, vector),
    }


CHECK_FIELDS = ("check_vector", "check_codes")


def expected_configuration(scheme: Scheme, stored: dict[str, str]) -> dict[str, str]:
    """The ``cfg`` fields an index of ``scheme`` must hold, without the query settings;
    the self-check only where the index stores one (indexes created before it had none).
    """
    fields = description(scheme, 0, 0)
    return {
        name: value
        for name, value in fields.items()
        if name not in QUERY_SETTINGS and (name not in CHECK_FIELDS or name in stored)
    }


SETTING_LIMITS = {
    "nprobe": MAX_NPROBE,
    "beam": MAX_NPROBE,
    "extra_probes": MAX_EXTRA_PROBES,
    "rerank_candidates": MAX_RERANK_CANDIDATES,
}
"""The largest value of each query setting an index may store (:mod:`lshrs.limits`)."""


def query_settings(cfg: dict[str, str], given: Collection[str] = ()) -> dict[str, int]:
    """The stored query settings that are well-formed integers, by name.

    Args:
        cfg: the index's ``cfg`` hash.
        given: settings the caller passes itself; they are left out, unchecked.

    Raises:
        ValueError: for a stored setting above its limit in :data:`SETTING_LIMITS`.
    """
    settings = {
        name: int(cfg[name])
        for name in QUERY_SETTINGS
        if name not in given and cfg.get(name, "").strip().isdigit()
    }
    for name, value in settings.items():
        if value > SETTING_LIMITS[name]:
            fix = "" if name in ("nprobe", "beam") else f", or pass {name}= when opening it"
            raise ValueError(
                f"index {cfg.get('fingerprint')!r} stores {name}={value:,}, above the limit "
                f"{SETTING_LIMITS[name]:,}: correct it in the index's cfg hash{fix}"
            )
    return settings


def check_stored(scheme: Scheme, cfg: dict[str, str]) -> None:
    """Compute the self-check and compare it with the stored one (when stored).

    Raises:
        ValueError: when they differ: the model was read wrongly or was altered.
    """
    stored = cfg.get("check_codes")
    if stored is None:
        return
    raw = base64.b64decode(cfg.get("check_vector", ""), validate=True)
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if vector.size != scheme.dim:
        raise ValueError(
            f"check_vector of index {cfg.get('fingerprint')!r} is not {scheme.dim} floats"
        )
    computed = check_codes(scheme, vector)
    if computed != stored:
        raise ValueError(
            f"the self-check of index {cfg.get('fingerprint')!r} fails: its check vector "
            f"codes as {computed}, but cfg stores {stored}; the model in Redis does not "
            "compute the codes this index was written with"
        )
