"""A read as script calls plus the ranking of their replies, so one read can run on
one index or on every partition of a partitioned one (:mod:`lshrs.partitioned`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Found = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]
"""Per query: candidate ids and their approximate scores, best first."""


@dataclass(frozen=True)
class ReadPlan:
    """The calls of a batch of queries and how their replies become results.

    Attributes:
        calls: one ``(script name, ARGV)`` per query; the same ARGV serves every
            partition, since every partition holds the same model.
        finish: ``finish(replies)`` where ``replies[q]`` holds query ``q``'s reply from
            each partition read (an id lives in one partition, so they merge by
            concatenation); returns the best candidates per query.
    """

    calls: list[tuple[str, list[Any]]]
    finish: Callable[[list[list[Any]]], Found]
