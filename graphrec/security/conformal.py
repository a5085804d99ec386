"""Split-conformal thresholds: a limit a new benign account exceeds with a bounded probability."""

from __future__ import annotations

import logging
import math

import numpy as np

from graphrec.errors import GraphrecError

log = logging.getLogger(__name__)


def conformal_quantile(values: np.ndarray, share: float) -> float:
    """The split-conformal ``1 - share`` quantile of benign calibration ``values``.

    With the ``n`` values sorted, it is the ``ceil((n + 1)(1 - share))``-th smallest: at most
    ``share * n`` calibration values exceed it, and a NEW benign value exchangeable with them
    exceeds it with probability at most ``share``. When ``n < 1 / share - 1`` that rank is beyond
    the largest value: the largest is used, the guarantee does not hold, and a warning says so.
    """
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if len(ordered) == 0:
        raise GraphrecError("no calibration accounts")
    rank = math.ceil((len(ordered) + 1) * (1 - share))
    if rank > len(ordered):
        log.warning(
            "only %d calibration accounts: a %.4g%% rate cannot be guaranteed; using the largest "
            "benign value as the limit",
            len(ordered),
            100 * share,
        )
        rank = len(ordered)
    return float(ordered[rank - 1])
