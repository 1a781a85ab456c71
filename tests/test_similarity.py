import numpy as np
import pytest

from lshrs import cosine_similarity, l2_norm, top_k_cosine
from lshrs.similarity import rerank_cosines


def test_l2_norm_makes_rows_unit_length_and_keeps_zero_rows():
    vectors = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]])
    normed = l2_norm(vectors)
    np.testing.assert_allclose(normed, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], rtol=1e-6)
    assert normed.dtype == np.float32


def test_cosine_similarity_matches_the_definition():
    rng = np.random.default_rng(0)
    query, candidates = rng.standard_normal(16), rng.standard_normal((50, 16))
    expected = candidates @ query / np.linalg.norm(candidates, axis=1) / np.linalg.norm(query)
    np.testing.assert_allclose(cosine_similarity(query, candidates), expected, rtol=1e-5)


def test_cosine_similarity_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="dim"):
        cosine_similarity(np.ones(3), np.ones((2, 4)))


def test_top_k_cosine_orders_by_similarity_then_row():
    candidates = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    result = top_k_cosine(np.array([1.0, 0.0]), candidates, k=3)
    assert [row for row, _ in result] == [1, 2, 3]
    assert result[0][1] == pytest.approx(1.0) and result[2][1] == pytest.approx(0.7071068)


def test_rerank_cosines_equal_the_normalised_product():
    rng = np.random.default_rng(1)
    query = rng.standard_normal(32).astype(np.float32)
    candidates = rng.standard_normal((200, 32)) * rng.uniform(0.01, 100.0, (200, 1))
    np.testing.assert_allclose(
        rerank_cosines(query, candidates), cosine_similarity(query, candidates), atol=1e-6
    )
    huge = np.full((1, 32), 1e30, dtype=np.float32)  # squares beyond float32, still valid
    np.testing.assert_allclose(rerank_cosines(np.ones(32, np.float32), huge), [1.0], rtol=1e-6)


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([[1.0, 2.0], [0.0, 0.0]], "row 1 is all zeros"),
        ([[1.0, 2.0], [np.nan, 1.0]], "row 1 contains NaN"),
        ([[1.0, np.inf]], "row 0 contains NaN or inf"),
        ([[True, False]], "must be numeric"),
        ([[1.0, 2.0, 3.0]], "must have 2 columns"),
    ],
)
def test_rerank_cosines_name_the_bad_candidate(candidates, message):
    with pytest.raises(ValueError, match=message):
        rerank_cosines(np.ones(2, dtype=np.float32), candidates, "fetched")


def test_best_breaks_ties_at_the_cut_by_smaller_id():
    from lshrs.similarity import best

    ids = np.arange(100, dtype=np.int64)[::-1].copy()
    assert ids[best(np.ones(100), ids, 3)].tolist() == [0, 1, 2]
    scores = np.array([1.0, 2.0, 1.0, 1.0])
    assert best(scores, np.array([5, 8, 3, 9]), 2).tolist() == [1, 2]
    assert best(scores, np.array([5, 8, 3, 9]), 0).size == 0
