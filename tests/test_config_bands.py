import math

import pytest

from lshrs import compute_collision_probability, get_optimal_config
from lshrs.config.bands import false_negative_area, false_positive_area


def test_collision_probability_uses_the_hyperplane_bit_probability():
    assert compute_collision_probability(0.0, 16, 8) == pytest.approx(1 - (1 - 0.5**8) ** 16)
    p = 1 - math.acos(0.8) / math.pi
    assert compute_collision_probability(0.8, 20, 10) == pytest.approx(1 - (1 - p**10) ** 20)
    assert compute_collision_probability(1.0, 3, 30) == 1.0


def test_collision_probability_grows_with_similarity():
    values = [compute_collision_probability(s / 10, 16, 8) for s in range(-10, 11)]
    assert values == sorted(values)


def test_optimal_config_minimises_the_weighted_error_over_all_splits():
    num_perm, threshold = 32, 0.6
    best = min(
        (
            0.5 * false_positive_area(threshold, b, r) + 0.5 * false_negative_area(threshold, b, r),
            b * r,
            b,
            r,
        )
        for b in range(1, num_perm + 1)
        for r in range(1, num_perm // b + 1)
    )
    assert get_optimal_config(num_perm, threshold) == (best[2], best[3])


def test_optimal_config_is_not_one_huge_band():
    bands, rows = get_optimal_config(128, 0.5)
    assert (bands, rows) == (16, 8)
    assert bands > 1 and bands * rows <= 128


def test_weights_trade_false_negatives_for_false_positives():
    recall_heavy = get_optimal_config(64, 0.5, false_positive_weight=0.1, false_negative_weight=0.9)
    precision_heavy = get_optimal_config(
        64, 0.5, false_positive_weight=0.9, false_negative_weight=0.1
    )
    fp = [false_positive_area(0.5, *config) for config in (recall_heavy, precision_heavy)]
    assert fp[0] > fp[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 0.5), "num_perm"), ((128, 1.5), "similarity_threshold"), ((128, 0.0), "similarity")],
)
def test_bad_tuning_arguments_are_rejected(args, message):
    with pytest.raises(ValueError, match=message):
        get_optimal_config(*args)


def test_bad_similarity_is_rejected():
    with pytest.raises(ValueError, match="cosine similarity"):
        compute_collision_probability(1.5, 4, 4)
