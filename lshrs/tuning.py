"""Moved to :mod:`lshrs.config.bands`; this path is kept for one release."""

from lshrs.config.bands import (
    compute_collision_probability,
    false_negative_area,
    false_positive_area,
    get_optimal_config,
)

__all__ = [
    "compute_collision_probability",
    "false_negative_area",
    "false_positive_area",
    "get_optimal_config",
]
