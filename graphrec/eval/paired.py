"""Paired comparisons of two models on the same users: is a difference more than noise?

Why: graphrec's gain over its no-graph head (.002 NDCG@10) is smaller than the spread between
seeds (.010), so a difference of means says nothing. Both comparisons here pair what is paired:
users (a bootstrap over users of one split, both models scored on each user) and seeds (the same
seed and split for both models, a t interval over the per-seed differences).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedDifference:
    """``mean`` of (a - b) with a two-sided ``level`` interval ``[low, high]`` over ``n`` pairs."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two non-empty 1-D arrays of one shape, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite")
    return a - b


def bootstrap_users(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> PairedDifference:
    """Percentile bootstrap of the mean per-user difference (users resampled with replacement).

    Shapes:
        a, b ``[N]``: the two models' metric for the same N users, in the same order.
    """
    diff = _paired(a, b)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 1000):  # chunks bound the index matrix's memory
        stop = min(start + 1000, resamples)
        picks = rng.integers(0, len(diff), size=(stop - start, len(diff)))
        means[start:stop] = diff[picks].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedDifference(float(diff.mean()), float(low), float(high), len(diff), level)


def paired_seeds(a: np.ndarray, b: np.ndarray, *, level: float = 0.95) -> PairedDifference:
    """Student t interval of the mean per-seed difference (needs two seeds or more).

    Shapes:
        a, b ``[S]``: the two models' result for the same S seeds (same split per seed).
    """
    diff = _paired(a, b)
    if len(diff) < 2:
        raise ValueError("a t interval needs at least two seeds")
    half = stats.t.ppf(0.5 + level / 2, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    return PairedDifference(
        float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half), len(diff), level
    )
