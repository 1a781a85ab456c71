"""Opening an index again: from Redis alone (every scheme), and from a model file."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from lshrs import IVFPQ, LSHRS, KMeansHasher, LSHHasher, RQHasher
from lshrs.keys import KeySpace
from lshrs.schemes import from_redis_config

DIM = 8


def sample(rows: int = 400) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((rows, DIM)).astype(np.float32)


def schemes():
    data = sample()
    return {
        "hyperplane": LSHHasher(4, 6, DIM, seed=5),
        "centred hyperplane": LSHHasher(4, 6, DIM, seed=5, center=data.mean(axis=0)),
        "kmeans": KMeansHasher.fit(data, nlist=8, iterations=3, backend="numpy"),
        "rq": RQHasher.fit(data, codebook_sizes=(4, 4), depth=2, iterations=3, backend="numpy"),
    }


@pytest.mark.parametrize("name", list(schemes()))
def test_from_redis_opens_every_scheme_without_a_model_file(name, redis_url, prefix):
    hasher = schemes()[name]
    data = sample()
    lsh = LSHRS(DIM, hasher=hasher, redis_url=redis_url, redis_prefix=prefix)
    lsh.index(np.arange(len(data)), data)

    again = LSHRS.from_redis(prefix, redis_url=redis_url)

    assert again.hasher.scheme == hasher.scheme
    assert again.stats()["fingerprint"] == lsh.stats()["fingerprint"]
    assert again.stats()["num_indexed"] == len(data)
    assert 7 in again.get_top_k(data[7], topk=len(data))


def test_a_saved_model_holds_no_connection_settings(redis_url, prefix, tmp_path):
    lsh = LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.save_to_disk(tmp_path / "model.lsh")

    saved = json.loads((tmp_path / "model.lsh").read_text())

    assert not {"redis_host", "redis_port", "redis_db", "redis_password"} & saved.keys()
    assert saved["redis_prefix"] == prefix


def test_a_model_file_with_connection_settings_still_loads(redis_url, prefix, tmp_path):
    lsh = LSHRS(DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix)
    lsh.save_to_disk(tmp_path / "model.lsh")
    old = json.loads((tmp_path / "model.lsh").read_text())
    old.update(redis_host="localhost", redis_port=6379, redis_db=0)
    (tmp_path / "old.lsh").write_text(json.dumps(old))

    again = LSHRS.load_from_disk(tmp_path / "old.lsh", redis_url=redis_url)

    assert again.stats()["fingerprint"] == lsh.stats()["fingerprint"]


# --- damaged model files and configurations ---------------------------------------------


def saved_models(redis_url: str, prefix: str, tmp_path) -> dict[str, dict[str, Any]]:
    """Real model files of every scheme, as JSON."""
    ivfpq_sample = np.random.default_rng(1).standard_normal((2000, DIM)).astype(np.float32)
    hashers: dict[str, Any] = {
        "hyperplane": None,
        **{name: scheme for name, scheme in schemes().items() if name != "hyperplane"},
        "ivfpq": IVFPQ.fit(ivfpq_sample, nlist=4, m=2, nprobe=2, iterations=3, backend="numpy"),
    }
    models = {}
    for name, hasher in hashers.items():
        kwargs = {"num_bands": 4, "rows_per_band": 6} if hasher is None else {"hasher": hasher}
        lsh = LSHRS(DIM, redis_url=redis_url, redis_prefix=prefix, **kwargs)
        lsh.save_to_disk(tmp_path / "model.lsh")
        lsh.clear()
        models[name] = json.loads((tmp_path / "model.lsh").read_text())
    return models


DAMAGE = [None, True, -1, 0, 2**70, 1.5, "x", [], {}, [1]]


def damaged(model: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of ``model``, at any depth, removed, replaced by a value of another
    kind, shortened (text and lists) or changed by one (integers)."""

    def fields(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in children:
            yield (*path, key)
            if isinstance(child, (dict, list)):
                yield from fields(child, (*path, key))

    for path in fields(model):
        changed = copy.deepcopy(model)
        parent = changed
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]]
        changes: list[tuple[str, Any]] = [(repr(new), new) for new in DAMAGE]
        if isinstance(value, str):
            changes += [("half", value[: len(value) // 2]), ("4 short", value[:-4])]
        if isinstance(value, list) and value:
            changes.append(("one short", value[:-1]))
        if isinstance(value, int) and not isinstance(value, bool):
            changes.append(("+1", value + 1))
        if isinstance(parent, dict):
            saved = parent.pop(path[-1])
            yield f"{path} removed", copy.deepcopy(changed)
            parent[path[-1]] = saved
        for how, new in changes:
            parent[path[-1]] = new
            yield f"{path} = {how}", copy.deepcopy(changed)
        parent[path[-1]] = value


def test_every_damaged_model_file_gives_a_value_error_or_opens(redis_url, prefix, tmp_path):
    wrong = []
    for name, model in saved_models(redis_url, prefix, tmp_path).items():
        text = json.dumps(model)
        files = [(f"cut at {cut}", text[:cut]) for cut in (0, 1, len(text) // 2, len(text) - 1)]
        files += [(how, json.dumps(variant)) for how, variant in damaged(model)]
        for how, content in files:
            (tmp_path / "damaged.lsh").write_text(content)
            try:
                LSHRS.load_from_disk(
                    tmp_path / "damaged.lsh", redis_url=redis_url, redis_prefix=prefix
                ).clear()
            except ValueError:
                pass
            except Exception as error:  # the property: nothing else escapes
                wrong.append(f"{name}: {how}: {type(error).__name__}: {error}")
    assert not wrong, "\n".join(wrong[:20])


@pytest.mark.parametrize(
    ("scheme", "damage", "message"),
    [
        ("kmeans", {"centroids": None}, "scheme_model's 'centroids' must be a string, got None"),
        ("kmeans", {"nlist": 9}, "'centroids' of shape .1, 9, 8. needs 288 bytes, got 256"),
        ("kmeans", {"nprobe": "2"}, "'nprobe' must be an integer, got '2'"),
        ("rq", {"codebooks": ["AAAA"]}, "1 codebooks but 2 codebook_sizes"),
        ("rq", {"codebook_sizes": [4, "4"]}, r"'codebook_sizes'\[1\] must be an integer"),
        ("rq", {"dim": 7}, r"'codebooks'\[0\] of shape \(4, 7\) needs 112 bytes, got 128"),
        ("centred hyperplane", {"center": {}}, "'center' must be a list, got {}"),
        ("ivfpq", {"blob": "AAAA"}, "IVF-PQ model blob"),
    ],
)
def test_a_damaged_scheme_model_names_the_field(
    redis_url, prefix, tmp_path, scheme, damage, message
):
    model = saved_models(redis_url, prefix, tmp_path)[scheme]
    model["scheme_model"].update(damage)
    (tmp_path / "damaged.lsh").write_text(json.dumps(model))

    with pytest.raises(ValueError, match=message) as raised:
        LSHRS.load_from_disk(tmp_path / "damaged.lsh", redis_url=redis_url, redis_prefix=prefix)

    assert str(raised.value).startswith(str(tmp_path / "damaged.lsh"))


@pytest.mark.parametrize("name", [*schemes(), "ivfpq"])
def test_every_damaged_configuration_in_redis_gives_a_value_error(name):
    sample = np.random.default_rng(1).standard_normal((2000, DIM)).astype(np.float32)
    scheme = (
        IVFPQ.fit(sample, nlist=4, m=2, nprobe=2, iterations=3, backend="numpy")
        if name == "ivfpq"
        else schemes()[name]
    )
    config = {**scheme.config_fields(), "fingerprint": scheme.fingerprint, "count": "0"}
    blob = scheme.model_blob()
    variants = [({**config, key: text}, blob) for key in config for text in ("x", "", "1.5", "-1")]
    variants += [({k: v for k, v in config.items() if k != key}, blob) for key in config]
    variants += [(config, blob[:cut]) for cut in (0, 8, len(blob) // 2, len(blob) - 4)]
    for damaged_config, damaged_blob in variants:
        with contextlib.suppress(ValueError):  # the property: nothing else escapes
            from_redis_config(damaged_config, damaged_blob)


def test_a_damaged_configuration_in_redis_is_named_when_opening(redis_url, prefix, redis_client):
    LSHRS(DIM, num_bands=4, rows_per_band=6, redis_url=redis_url, redis_prefix=prefix)
    redis_client.hdel(KeySpace(prefix).config, "rows_per_band")

    with pytest.raises(ValueError, match="needs an integer 'rows_per_band', got nothing"):
        LSHRS.from_redis(prefix, redis_url=redis_url)
