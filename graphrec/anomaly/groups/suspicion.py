"""Item suspicion: how many of an item's extreme ratings no genuine-rating null explains.

The deduplicated (user, item) pairs, the per-item excess of extreme ratings over the histogram
and rater-habit nulls, and the Poisson log-likelihood ratio that scores an excess (used for
items here and for time windows in :mod:`.lockstep`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphrec.anomaly.groups.config import GroupConfig
from graphrec.anomaly.groups.report import DetectedGroup
from graphrec.anomaly.labels import NUKE, PUSH
from graphrec.data.ratings import Ratings


@dataclass
class RatingPairs:
    """One row per distinct (user, item): the rating of its last event (by time)."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> RatingPairs:
        ev = ratings.events
        user = ev["user"].to_numpy(np.int64)
        item = ev["item"].to_numpy(np.int64)
        order = np.lexsort((ev["timestamp"].to_numpy(np.int64), item, user))
        user, item = user[order], item[order]
        last = np.concatenate([(user[1:] != user[:-1]) | (item[1:] != item[:-1]), [True]])
        rating = ev["rating"].to_numpy(np.float64)[order]
        return cls(user=user[last], item=item[last], rating=rating[last])

    def without(self, groups: list[DetectedGroup], value: float) -> RatingPairs:
        """These pairs less the ``value`` ratings of each group's members on its targets."""
        if not groups:
            return self
        drop = np.zeros(len(self.user), dtype=bool)
        for g in groups:
            drop |= np.isin(self.user, g.members) & np.isin(self.item, g.targets)
        keep = ~(drop & (self.rating == value))
        return RatingPairs(user=self.user[keep], item=self.item[keep], rating=self.rating[keep])


def item_excess(
    ratings: Ratings,
    direction: str,
    *,
    config: GroupConfig | None = None,
    pairs: RatingPairs | None = None,
) -> pd.DataFrame:
    """Per item: extreme ratings, their null expectation, the excess and its suspicion.

    The expectation is the larger (more conservative) of:

    * ``histogram`` — a unimodal, log-concave histogram satisfies n_v ≤ n_a1² / n_a2 at the end
      v of the scale (a1, a2: the next two steps inward, one rating unit wide; +1 pseudo-counts);
      a campaign piles ratings on v and breaks that bound;
    * ``raters`` — Σ over the item's raters of each rater's leave-one-out share of extreme
      ratings (shrunk toward the global share by ``prior_strength`` pseudo-events): harsh or
      generous raters explain their own extremes.

    Args:
        ratings: the events.
        direction: ``push`` (maximum rating) or ``nuke`` (minimum).
        config: ``prior_strength`` comes from it (default :class:`GroupConfig`).
        pairs: precomputed deduplicated pairs (internal reuse).

    Returns:
        DataFrame indexed by contiguous item id with ``raters``, ``extreme_count``,
        ``expected_histogram``, ``expected_raters``, ``expected``, ``excess`` (≥ 0),
        ``excess_share`` (excess ÷ extreme count) and ``llr`` (Poisson log-likelihood ratio,
        0 without excess).
    """
    if direction not in (PUSH, NUKE):
        raise ValueError(f"direction must be 'push' or 'nuke', got {direction!r}")
    config = config or GroupConfig()
    pairs = pairs or RatingPairs.from_ratings(ratings)
    num_items = ratings.num_items
    scale = np.unique(pairs.rating)
    value = float(scale[-1] if direction == PUSH else scale[0])
    # Distance from the extreme in rating units: bins [0] = the extreme itself, (0, 1], (1, 2].
    unit = 1.0 if scale[-1] - scale[0] >= 3 else float(np.min(np.diff(scale)))
    distance = np.abs(pairs.rating - value) / unit
    is_v = distance == 0
    count = np.bincount(pairs.item, minlength=num_items).astype(np.float64)
    x = np.bincount(pairs.item, weights=is_v, minlength=num_items)
    n_a1 = np.bincount(pairs.item, weights=(distance > 0) & (distance <= 1), minlength=num_items)
    n_a2 = np.bincount(pairs.item, weights=(distance > 1) & (distance <= 2), minlength=num_items)
    e_hist = (n_a1 + 1.0) ** 2 / (n_a2 + 1.0)
    user_total = np.bincount(pairs.user, minlength=ratings.num_users).astype(np.float64)
    user_v = np.bincount(pairs.user, weights=is_v, minlength=ratings.num_users)
    share = float(is_v.mean())
    m = config.prior_strength
    loo = (user_v[pairs.user] - is_v + m * share) / np.maximum(user_total[pairs.user] - 1 + m, 1)
    e_raters = np.bincount(pairs.item, weights=loo, minlength=num_items)
    expected = np.minimum(np.maximum(e_hist, e_raters), np.maximum(count, 1e-9))
    excess = np.maximum(x - expected, 0.0)
    frame = pd.DataFrame(
        {
            "raters": count.astype(np.int64),
            "extreme_count": x.astype(np.int64),
            "expected_histogram": e_hist,
            "expected_raters": e_raters,
            "expected": expected,
            "excess": excess,
            "excess_share": np.divide(excess, x, out=np.zeros_like(x), where=x > 0),
            "llr": poisson_llr(x, expected),
        },
        index=pd.RangeIndex(num_items, name="item"),
    )
    return frame


def poisson_llr(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio of an observed count against a Poisson expectation (0 if not above).

    ``x·log(x/λ) − (x − λ)`` for x > λ: the log of how much better "the rate is x" explains the
    count than "the rate is λ" (CrossSpot's block suspiciousness, Jiang et al. 2015).

    Shapes:
        input: observed, expected: same shape, expected > 0; output: same shape.
    """
    x = np.asarray(observed, dtype=np.float64)
    lam = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    above = x > lam
    ratio = np.log(np.where(above, x, 1.0) / np.where(above, lam, 1.0))
    return np.where(above, x * ratio - (x - lam), 0.0)
