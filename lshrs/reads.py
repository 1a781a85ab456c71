"""What a read of any index kind returns: per query, candidates and their scores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Found = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]
"""Per query: candidate ids and their approximate scores, best first."""
