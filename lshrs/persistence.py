"""Opening an index again: model files (save/load), the configuration stored in Redis,
and trained FAISS indexes. Connection settings are never written to a model file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.client import NEVER_DECODE

from lshrs.connection import open_storage, pop_connection
from lshrs.describe import check_stored, query_settings
from lshrs.limits import (
    MAX_BANDS,
    MAX_DIM,
    MAX_MODEL_BYTES,
    MAX_ROWS_PER_BAND,
    check_limit,
    check_query_settings,
)
from lshrs.lists import ListIndex
from lshrs.schemes import FORMAT_VERSION, IVFPQ, LSHHasher, from_redis_config, scheme_from_model
from lshrs.schemes.codec import check_kind, config_int

if TYPE_CHECKING:
    from lshrs.index import LSHRS

MODEL_FORMAT = "lshrs-model"
SAVED_SETTINGS: dict[str, type[Any]] = {
    "dim": int,
    "num_perm": int,
    "num_bands": int,
    "rows_per_band": int,
    "similarity_threshold": float,
    "seed": int,
    "buffer_size": int,
    "redis_prefix": str,
    "extra_probes": int,
    "rerank_candidates": int,
    "partitions": int,
}
"""Constructor arguments a model file restores, and the JSON kind of each."""
OLD_CONNECTION_SETTINGS: dict[str, type[Any]] = {
    "redis_host": str,
    "redis_port": int,
    "redis_db": int,
}
"""Written by earlier releases; still honoured (below explicit arguments) when read."""


def save_model(lsh: LSHRS, path: str | Path) -> None:
    """Write ``lsh``'s configuration as JSON (see :meth:`lshrs.LSHRS.save_to_disk`)."""
    model = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        **lsh._settings(),
        "redis_prefix": lsh.redis_prefix,
    }
    if not isinstance(lsh.hasher, LSHHasher) or lsh.hasher.center is not None:
        model["scheme_model"] = lsh.hasher.to_model()
    Path(path).write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")


def load_arguments(path: str | Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from a model file, ``overrides`` winning.

    Raises:
        ValueError: if the file is not an lshrs model of this format version, or a
            setting or the ``scheme_model`` is missing, of the wrong type or
            inconsistent (the message names the path and the field).
    """
    try:
        model = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not an lshrs model file: {error}") from error
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not an lshrs model file")
    version = model.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format {model.get('format_version')}; this lshrs reads "
            f"format {FORMAT_VERSION}"
        )
    try:
        params = {
            key: check_kind(model[key], kind, key)
            for key, kind in (SAVED_SETTINGS | OLD_CONNECTION_SETTINGS).items()
            if model.get(key) is not None
        }
        if "dim" not in params:
            raise ValueError(
                "dim is missing; the model file is damaged: save the model again from a "
                "working index"
            )
        scheme = model.get("scheme", LSHHasher.scheme)
        if "scheme_model" not in model and scheme != LSHHasher.scheme:
            raise ValueError(
                f"scheme {scheme!r} needs a scheme_model, which is missing; the model file "
                "is damaged: save the model again from a working index"
            )
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    _check_declared(path, {**params, **overrides}, model, "hasher" in overrides)
    if "scheme_model" in model and "hasher" not in overrides:
        try:
            params["hasher"] = scheme_from_model(scheme, model["scheme_model"])
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    return {**params, **overrides}


def _check_declared(
    path: str | Path, settings: dict[str, Any], model: dict[str, Any], own_hasher: bool
) -> None:
    """Refuse a model file that declares more than an index may do, before anything
    is built from it (:mod:`lshrs.limits`).

    Raises:
        ValueError: naming the file, the setting, its range and the value.
    """
    try:
        check_query_settings(settings.get("extra_probes", 0), settings.get("rerank_candidates", 1))
        for name, high in (
            ("dim", MAX_DIM),
            ("num_bands", MAX_BANDS),
            ("rows_per_band", MAX_ROWS_PER_BAND),
        ):
            if settings.get(name) is not None:
                check_limit(settings[name], name, high, "the file declares it", low=1)
        described = json.dumps(model.get("scheme_model") if not own_hasher else None)
        if len(described) > 2 * MAX_MODEL_BYTES:
            raise ValueError(
                f"scheme_model takes {len(described):,} characters; a model holds at most "
                f"{MAX_MODEL_BYTES:,} bytes"
            )
    except ValueError as error:
        raise ValueError(
            f"{path} is refused: {error}. Pass the setting to load_from_disk to override "
            "it, or save the model again"
        ) from error


def redis_arguments(redis_prefix: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments for the index stored under ``redis_prefix``.

    Raises:
        ValueError: if no index exists under the prefix, or its model is unreadable.
    """
    rest = dict(kwargs)
    connection = pop_connection(rest)
    storage = rest.pop("storage", None) or open_storage(redis_prefix, **connection)
    config = storage.config()
    if not config:
        raise ValueError(f"no lshrs index under redis_prefix {redis_prefix!r}")
    size = storage.client.strlen(storage.keys.model)
    if size > MAX_MODEL_BYTES:
        raise ValueError(
            f"the model of index {redis_prefix!r} takes {size:,} bytes, more than the "
            f"{MAX_MODEL_BYTES:,} an index may hold; it was not read"
        )
    blob = storage.client.execute_command("GET", storage.keys.model, **{NEVER_DECODE: True})
    scheme = from_redis_config(config, blob or b"")
    check_stored(scheme, config)
    settings = query_settings(config, given=rest)
    settings.pop("nprobe", None)
    settings.pop("beam", None)
    if "partitions" in config:
        settings["partitions"] = config_int(config, "partitions")
    return {"dim": scheme.dim, "hasher": scheme, "storage": storage, **settings, **rest}


def load_faiss_lists(lsh: LSHRS, index: Any) -> None:
    """Copy a ``faiss.IndexIVFPQ``'s ids and codes into ``lsh``'s inverted lists."""
    lists = lsh._kind
    if not isinstance(lists, ListIndex):
        raise ValueError(
            "a FAISS index is copied into an unpartitioned index only; open it with "
            "partitions=1, or index the vectors into the partitioned one with index()"
        )
    assert isinstance(lsh.hasher, IVFPQ)
    _, calls = lists.faiss_calls(index)
    lists.insert(calls)
