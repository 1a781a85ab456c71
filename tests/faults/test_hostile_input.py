"""Bad and hostile input over the public API: every call either works correctly or
raises a ValueError naming the problem before any write, and nothing is ever written
outside the index's prefix. First the documented examples of bad input, then
property-based hostile input on a private Redis whose whole keyspace is checked."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lshrs import LSHRS
from lshrs.keys import KeySpace
from lshrs.protocol import (
    SCRIPT_NAMES,
    BadArgumentError,
    ConfigMismatchError,
    WrongTypeError,
    translate,
)
from tests.fixtures.redis_server import RedisProcess, server_binaries
from tests.helpers import contents, snapshot

EXAMPLE_DIM = 8


@pytest.fixture
def example_lsh(redis_url, prefix):
    index = LSHRS(
        dim=EXAMPLE_DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix
    )
    index.index([100], np.ones((1, EXAMPLE_DIM)))
    return index


def good_vectors(n=3):
    return np.random.default_rng(0).standard_normal((n, EXAMPLE_DIM)).astype(np.float32)


BAD_BATCHES = [
    ([1, 2, 3], good_vectors()[:, :5], "must have 8 columns"),
    ([1, 2, 3], good_vectors()[0], "must have shape"),
    ([], np.empty((0, EXAMPLE_DIM)), "empty"),
    (
        [1, 2, 3],
        np.where(np.eye(3, EXAMPLE_DIM) > 0, np.nan, good_vectors()),
        "id 1 .row 0. contains NaN",
    ),
    (
        [1, 2, 3],
        np.vstack([good_vectors(2), np.full((1, EXAMPLE_DIM), np.inf)]),
        "id 3 .row 2. contains NaN or inf",
    ),
    (
        [1, 2, 3],
        np.vstack([good_vectors(2), np.zeros((1, EXAMPLE_DIM))]),
        "id 3 .row 2. is all zeros",
    ),
    ([1, 2], good_vectors(), "2 indices but 3 vectors"),
    ([1, 2, 2], good_vectors(), "must be distinct.*\\[2\\]"),
    ([1.0, 2.0, 3.0], good_vectors(), "must be integers, got dtype float64"),
    (["a", "b", "c"], good_vectors(), "must be integers"),
    ([1, -2, 3], good_vectors(), "\\[0, 2\\*\\*53 - 1\\], got -2"),
    ([1, 2**53, 3], good_vectors(), "got 9007199254740992"),
    ([1, 2**64, 3], good_vectors(), "must be"),
    ([True, False, True], good_vectors(), "must be integers"),
    ([1, 2, 3], good_vectors().astype(object), "numeric"),
    ([1, 2, 3], np.array([["x"] * EXAMPLE_DIM] * 3), "numeric"),
]


@pytest.mark.parametrize(("ids", "vectors", "message"), BAD_BATCHES)
def test_bad_batches_are_rejected_before_any_write(
    example_lsh, redis_client, prefix, ids, vectors, message
):
    before = snapshot(redis_client, prefix)
    with pytest.raises(ValueError, match=message):
        example_lsh.index(ids, vectors)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("index", "vector", "message"),
    [
        (1, np.ones(EXAMPLE_DIM + 1), "must have 8 columns"),
        (1, np.full(EXAMPLE_DIM, np.nan), "id 1 .row 0. contains NaN"),
        (1, np.ones((2, EXAMPLE_DIM)), "must have shape"),
        (1.5, np.ones(EXAMPLE_DIM), "integers"),
        ("7", np.ones(EXAMPLE_DIM), "integers"),
        (-1, np.ones(EXAMPLE_DIM), "got -1"),
    ],
)
def test_bad_ingest_is_rejected_before_any_write(
    example_lsh, redis_client, prefix, index, vector, message
):
    before = snapshot(redis_client, prefix)
    with pytest.raises(ValueError, match=message):
        example_lsh.ingest(index, vector)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vector": np.ones(3)}, "8 columns"),
        ({"vector": np.ones(EXAMPLE_DIM), "topk": 0}, "topk"),
        ({"vector": np.ones(EXAMPLE_DIM), "topk": None}, "topk"),
        ({"vector": np.ones(EXAMPLE_DIM), "topp": 1.5}, "topp"),
        ({"vector": np.ones(EXAMPLE_DIM), "topp": -0.1}, "topp"),
    ],
)
def test_bad_queries_are_rejected(example_lsh, kwargs, message):
    example_lsh.vector_fetch_fn = lambda ids: np.ones((len(ids), EXAMPLE_DIM))
    with pytest.raises(ValueError, match=message):
        example_lsh.query(**kwargs)


def test_bad_deletes_are_rejected_before_any_write(example_lsh, redis_client, prefix):
    before = snapshot(redis_client, prefix)
    for bad in ([100, 1.5], ["100"], [-1], []):
        with pytest.raises(ValueError):
            example_lsh.delete(bad)
    assert snapshot(redis_client, prefix) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim"),
        ({"dim": 8, "num_perm": 0}, "num_perm"),
        ({"dim": 8, "num_bands": 200}, "must not exceed num_perm"),
        ({"dim": 8, "similarity_threshold": 1.0}, "similarity_threshold"),
        ({"dim": 8, "buffer_size": 0}, "buffer_size"),
        ({"dim": 8, "redis_prefix": ""}, "redis_prefix"),
        ({"dim": 8, "redis_prefix": "a{b}"}, "must not contain"),
        ({"dim": 8, "extra_probes": -1}, "extra_probes"),
        ({"dim": 8, "rerank_candidates": 0}, "rerank_candidates"),
        ({"dim": 8, "vector_fetch_fn": 3}, "callable"),
    ],
)
def test_bad_constructor_arguments_are_rejected(redis_url, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSHRS(redis_url=redis_url, **kwargs)


def test_prefixes_with_glob_characters_and_spaces_stay_separate(redis_url, redis_client):
    odd = LSHRS(
        dim=EXAMPLE_DIM,
        num_bands=2,
        rows_per_band=2,
        redis_url=redis_url,
        redis_prefix="t* [x]? \\ sp",
    )
    plain = LSHRS(
        dim=EXAMPLE_DIM, num_bands=2, rows_per_band=2, redis_url=redis_url, redis_prefix="t"
    )
    odd.index([1], np.ones((1, EXAMPLE_DIM)))
    plain.index([2], np.ones((1, EXAMPLE_DIM)))
    odd.clear()
    assert snapshot(redis_client, "t* [x]? \\ sp") == {}
    assert plain.stats()["num_indexed"] == 1
    plain.clear()


# -- property-based hostile input ---------------------------------------------------

DIM = 4
OTHER_TENANTS = {  # keys of other applications, outside every possible index root
    b"victim": b"1",
    b"{victim}cfg": b"2",
    b"lsh:b": b"3",
    b"{mine}-cfg": b"4",
    b"{hostile*}x": b"5",
    b"*": b"6",
}
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def server():
    process = RedisProcess(next(iter(server_binaries().values()))).start()
    client = redis.Redis.from_url(process.url)
    client.mset(OTHER_TENANTS)
    yield process.url, client
    client.close()
    process.stop()


@pytest.fixture(scope="module")
def lsh(server):
    url, _ = server
    index = LSHRS(dim=DIM, num_bands=3, rows_per_band=4, redis_url=url, redis_prefix="mine")
    index.index([0], np.ones((1, DIM)))
    yield index
    index.close()


def outside(state, root):
    return {key: value for key, value in state.items() if not key.startswith(root)}


def assert_only_inside(client, before, root):
    after = contents(client)
    assert outside(after, root) == outside(before, root)


def assert_rejected_or(client, root, action, check):
    before = contents(client)
    try:
        action()
    except ValueError:
        event("rejected with ValueError")
        assert contents(client) == before
        return
    event("accepted")
    assert_only_inside(client, before, root)
    check()


scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=2**53 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
id_arrays = hnp.arrays(
    dtype=st.one_of(
        hnp.integer_dtypes(),
        hnp.unsigned_integer_dtypes(),
        hnp.floating_dtypes(),
        hnp.boolean_dtypes(),
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
)
id_inputs = st.one_of(
    st.lists(st.integers(min_value=0, max_value=2**53 - 1), min_size=1, max_size=5, unique=True),
    st.lists(st.integers(min_value=-5, max_value=2**64), max_size=5),
    st.lists(scalars, max_size=4),
    id_arrays,
    scalars,
)
vector_arrays = hnp.arrays(
    dtype=st.one_of(
        hnp.floating_dtypes(sizes=(16, 32, 64)),
        hnp.integer_dtypes(),
        hnp.unsigned_integer_dtypes(),
        hnp.boolean_dtypes(),
        st.just(np.dtype(object)),
        st.just(np.dtype("U3")),
    ),
    shape=st.one_of(
        st.tuples(st.integers(0, 5), st.sampled_from([DIM - 1, DIM, DIM + 1])),
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
    ),
    elements=None,
)


nonzero = st.one_of(st.floats(0.5, 100, width=32), st.floats(-100, -0.5, width=32))


def batch_vectors(data, n):
    """Vectors to pair with n ids: usually the right shape, sometimes not."""
    return data.draw(
        st.one_of(
            hnp.arrays(np.float32, (n, DIM), elements=nonzero),
            hnp.arrays(
                dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int64]),
                shape=st.just((n, DIM)),
            ),
            vector_arrays,
        )
    )


def is_indexed(lsh, ids):
    client = lsh.storage.client
    return all(client.hexists(lsh.storage.keys.reverse(int(i)), str(int(i))) for i in ids)


@SETTINGS
@given(data=st.data(), ids=id_inputs)
def test_index_is_correct_or_a_value_error_before_any_write(server, lsh, data, ids):
    _, client = server
    n = np.asarray(ids, dtype=object).size if np.ndim(ids) else 1
    vectors = batch_vectors(data, n)
    root = lsh.storage.keys.root

    def check():
        assert is_indexed(lsh, np.asarray(ids, dtype=object).ravel())
        assert lsh.verify().ok

    assert_rejected_or(client, root, lambda: lsh.index(ids, vectors), check)


@SETTINGS
@given(
    index=st.one_of(st.integers(0, 2**53 - 1), scalars, id_arrays),
    vector=st.one_of(hnp.arrays(np.float64, (DIM,), elements=nonzero), vector_arrays),
)
def test_ingest_is_correct_or_a_value_error_before_any_write(server, lsh, index, vector):
    _, client = server

    def check():
        assert is_indexed(lsh, [index])

    assert_rejected_or(client, lsh.storage.keys.root, lambda: lsh.ingest(index, vector), check)


@SETTINGS
@given(ids=id_inputs)
def test_delete_is_correct_or_a_value_error_before_any_write(server, lsh, ids):
    _, client = server

    def check():
        assert not any(is_indexed(lsh, [i]) for i in np.atleast_1d(np.asarray(ids, dtype=object)))
        assert lsh.verify().ok

    assert_rejected_or(client, lsh.storage.keys.root, lambda: lsh.delete(ids), check)


@SETTINGS
@given(
    vector=vector_arrays,
    topk=st.one_of(st.none(), st.integers(-2, 50), st.floats(), st.booleans()),
    topp=st.one_of(st.none(), st.floats(-1, 2), st.just(float("nan")), st.text(max_size=2)),
)
def test_query_answers_or_raises_value_error_and_never_writes(server, lsh, vector, topk, topp):
    _, client = server
    before = contents(client)
    lsh.vector_fetch_fn = lambda ids: np.ones((len(ids), DIM))
    try:
        result = lsh.query(vector, topk=topk, topp=topp)
    except ValueError:
        pass
    else:
        assert isinstance(result, list)
        assert topk is None or len(result) <= topk
    assert contents(client) == before


prefixes = st.one_of(
    st.text(min_size=0, max_size=10),
    st.text(alphabet="*?[]{}\\ :^-!a", min_size=1, max_size=8),
    st.sampled_from(["*", "{", "}", "a b", "victim", "hostile*", "{victim}", "[a-z]*", "\\", "é*"]),
    st.binary(max_size=4),
    st.integers(),
    st.none(),
)


@settings(SETTINGS, max_examples=60)
@given(prefix=prefixes)
def test_any_prefix_works_inside_its_own_keys_or_is_a_value_error(server, prefix):
    url, client = server
    before = contents(client)
    try:
        lsh = LSHRS(dim=DIM, num_bands=3, rows_per_band=4, redis_url=url, redis_prefix=prefix)
    except ValueError:
        assert contents(client) == before
        return
    root = KeySpace(prefix).root
    try:
        lsh.index([1, 2, 3], np.eye(3, DIM) + 0.1)
        assert lsh.query(np.eye(1, DIM)[0] + 0.1, topk=1) == [1]
        lsh.delete([2])
        assert lsh.verify().ok
        assert_only_inside(client, before, root)
        lsh.clear()
        assert contents(client) == before
    finally:
        lsh.close()


# -- hostile calls of the scripts: each is refused before its first write -----------

SCRIPT_DIM = 8


@pytest.fixture
def hostile(redis_url, prefix):
    """An index of ids 0..399 with 4 bands of 1 byte, and its storage."""
    index = LSHRS(
        dim=SCRIPT_DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix
    )
    ids = np.arange(400)
    index.index(ids, np.random.default_rng(1).standard_normal((400, SCRIPT_DIM)))
    yield index
    index.close()


def call(lsh, script, args, root=None):
    storage = lsh.storage
    return storage.protocol.call(script, storage.keys.root if root is None else root, args)


def test_a_foreign_key_at_a_reverse_index_key_refuses_the_whole_insert(
    hostile, redis_client, prefix
):
    redis_client.set(hostile.storage.keys.reverse(640), b"x")
    before = snapshot(redis_client, prefix)
    # 400 ids x 4 bands: one insert call, which must fail whole.
    with pytest.raises(WrongTypeError, match=r"r5 holds"):
        hostile.index(range(600, 1000), np.random.default_rng(2).standard_normal((400, SCRIPT_DIM)))
    assert snapshot(redis_client, prefix) == before


def test_a_foreign_key_at_a_bucket_refuses_the_whole_insert(hostile, redis_client, prefix):
    vector = np.random.default_rng(3).standard_normal((1, SCRIPT_DIM))
    code = hostile.hasher.probe_codes(vector[0])[2]
    redis_client.delete(hostile.storage.keys.bucket(code))
    redis_client.set(hostile.storage.keys.bucket(code), b"x")
    before = snapshot(redis_client, prefix)
    with pytest.raises(WrongTypeError):
        hostile.index([5000], vector)
    assert snapshot(redis_client, prefix) == before


def test_the_same_id_twice_in_one_insert_call_is_refused(hostile, redis_client, prefix):
    sigs = bytes(4)
    before = snapshot(redis_client, prefix)
    with pytest.raises(BadArgumentError, match="given twice"):
        call(hostile, "insert", [hostile.hasher.fingerprint, 2, 900, sigs, 900, sigs, "*"])
    assert snapshot(redis_client, prefix) == before


def grouped(fingerprint, pairs, groups):
    """ARGV of the grouped insert form: (id, sigs) pairs, then (code, members) groups."""
    args = [fingerprint, len(pairs)]
    for index, sigs in pairs:
        args += [index, sigs]
    args.append(len(groups))
    for code, members in groups:
        args += [code, len(members), *members]
    return args


def band_code(band, sig):
    return band.to_bytes(2, "big") + sig


GOOD_GROUPS = [(band_code(b, b"\x07"), [900]) for b in range(4)]
CONTRADICTING_GROUPS = {
    "another id": [(band_code(b, b"\x07"), [901 if b == 3 else 900]) for b in range(4)],
    "another bucket": [(band_code(b, b"\x08" if b == 1 else b"\x07"), [900]) for b in range(4)],
    "a membership twice": [*GOOD_GROUPS[:3], (band_code(2, b"\x07"), [900])],
    "a band >= num_bands": [*GOOD_GROUPS[:3], (band_code(4, b"\x07"), [900])],
    "a member that is no id": [*GOOD_GROUPS[:3], (band_code(3, b"\x07"), ["abc"])],
}


@pytest.mark.parametrize("groups", CONTRADICTING_GROUPS.values(), ids=CONTRADICTING_GROUPS)
def test_grouped_inserts_whose_groups_contradict_the_pairs_are_refused(
    hostile, redis_client, prefix, groups
):
    fingerprint = hostile.hasher.fingerprint
    before = snapshot(redis_client, prefix)
    with pytest.raises(BadArgumentError):
        call(hostile, "insert", grouped(fingerprint, [(900, b"\x07" * 4)], groups))
    assert snapshot(redis_client, prefix) == before
    assert call(hostile, "insert", grouped(fingerprint, [(900, b"\x07" * 4)], GOOD_GROUPS)) == 1
    assert hostile.verify().ok


def test_queries_and_verify_survive_a_member_that_is_no_id(hostile, redis_client):
    vector = np.random.default_rng(4).standard_normal(SCRIPT_DIM)
    hostile.index([7000], vector[None])
    code = hostile.hasher.probe_codes(vector)[0]
    redis_client.sadd(hostile.storage.keys.bucket(code), "abc")
    assert hostile.get_top_k(vector, topk=1) == [7000]
    report = hostile.verify()
    assert report.malformed_members == ["abc"]
    assert not report.ok
    assert hostile.verify(repair=True).malformed_members == ["abc"]
    assert hostile.verify().ok


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_refuses_a_call_without_keys(hostile, name):
    with pytest.raises(redis.ResponseError) as refused:
        hostile.storage.client.evalsha(hostile.storage.protocol.scripts[name].sha, 0)
    assert isinstance(translate(refused.value), BadArgumentError), refused.value


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("gather", []),
        ("move", ["fp"]),
        ("move", ["fp", 1, 0]),
        ("query", []),
        ("insert", []),
        ("recount", []),
        ("clear", []),
        ("verify", [0]),
        ("init", []),
        ("ivf_insert", []),
        ("ivf_verify", ["fp"]),
    ],
)
def test_scripts_refuse_missing_arguments_with_a_bad_argument_error(hostile, script, args):
    fingerprint = hostile.hasher.fingerprint
    with pytest.raises(BadArgumentError):
        call(hostile, script, [fingerprint if a == "fp" else a for a in args])


@pytest.mark.parametrize("root", [b"", b"{}:", b"{x}", b"x:", b"{a}b}:", b"{a}:x", b"{victim}"])
def test_clear_refuses_a_root_that_is_not_one_hash_tag_and_deletes_nothing(server, lsh, root):
    _, client = server
    before = contents(client)
    with pytest.raises(BadArgumentError, match="KEYS must be one root"):
        lsh.storage.protocol.call("clear", root, [0, 1000])
    assert contents(client) == before


@pytest.mark.parametrize(
    "fields",
    [
        ["num_bands", "-5", "sig_bytes", "1"],
        ["num_bands", "65537", "sig_bytes", "1"],
        ["num_bands", "4", "sig_bytes", "0"],
        ["num_bands", "4", "sig_bytes", "1", "fingerprint", "other"],
        ["num_bands", "4", "sig_bytes", "1", "count", "99"],
        ["num_bands", "4", "sig_bytes", "1", "clearing", "1"],
        ["num_bands", "4", "sig_bytes", "1", "num_bands", "2"],
        ["scheme", "ivfpq", "nlist", "0", "record_bytes", "10"],
    ],
)
def test_init_refuses_bad_or_reserved_fields(hostile, redis_client, fields):
    root = b"{" + hostile.redis_prefix.encode() + b"-new}:"
    with pytest.raises(BadArgumentError):
        call(hostile, "init", ["fp", b"", *fields], root=root)
    assert list(redis_client.scan_iter(match=root + b"*")) == []


def test_a_configuration_edited_behind_its_fingerprint_is_refused_on_attach(
    hostile, redis_url, redis_client, prefix
):
    redis_client.hset(KeySpace(prefix).config, mapping={"num_bands": 2, "sig_bytes": 2})
    with pytest.raises(ConfigMismatchError, match="num_bands=2"):
        LSHRS(
            dim=SCRIPT_DIM, num_bands=4, rows_per_band=4, redis_url=redis_url, redis_prefix=prefix
        )
    with pytest.raises(ValueError, match="self-check"):
        LSHRS.from_redis(redis_prefix=prefix, redis_url=redis_url)
