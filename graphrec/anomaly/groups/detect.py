"""The entry points: run both methods on each direction, merge them, and the detector wrapper.

Lockstep groups come first; dense blocks are peeled from the extreme ratings the lockstep groups
do not explain, and a block that re-finds a lockstep group is dropped.
"""

from __future__ import annotations

import logging

import numpy as np

from graphrec.anomaly.groups.config import GroupConfig
from graphrec.anomaly.groups.dense_block import dense_block_groups
from graphrec.anomaly.groups.lockstep import lockstep_groups
from graphrec.anomaly.groups.report import DetectedGroup, GroupReport, build_report
from graphrec.anomaly.groups.suspicion import RatingPairs, item_excess
from graphrec.anomaly.labels import NUKE, PUSH
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)


def detect_groups(ratings: Ratings, config: GroupConfig | None = None) -> GroupReport:
    """Find groups of accounts that pushed or nuked the same items together.

    Args:
        ratings: the events (any ids; repeated (user, item) events allowed).
        config: thresholds and windows (default :class:`GroupConfig`).

    Returns:
        A :class:`GroupReport` (lockstep groups first when time is used, then dense blocks; ids
        renumbered by decreasing suspicion).
    """
    config = config or GroupConfig()
    if config.use_time and not ratings.has_timestamps:
        raise ValueError(f"use_time=True but {ratings.name} has no timestamps")
    with_time = ratings.has_timestamps if config.use_time is None else config.use_time
    scale = np.unique(ratings.events["rating"].to_numpy(np.float64))
    found: list[DetectedGroup] = []
    if len(scale) < 2:
        log.warning("%s has a single rating value: no extreme ratings to group", ratings.name)
    else:
        pairs = RatingPairs.from_ratings(ratings)
        for direction in (PUSH, NUKE):
            value = float(scale[-1] if direction == PUSH else scale[0])
            lockstep = lockstep_groups(ratings, direction, value, config) if with_time else []
            # Dense blocks look only at extreme ratings no lockstep group already explains.
            rest = pairs.without(lockstep, value)
            stats = item_excess(ratings, direction, config=config, pairs=rest)
            blocks = dense_block_groups(rest, direction, value, stats, config)
            blocks = [b for b in blocks if not any(_same_campaign(b, g, config) for g in lockstep)]
            found += lockstep + blocks
    return build_report(ratings, found)


def _same_campaign(block: DetectedGroup, group: DetectedGroup, config: GroupConfig) -> bool:
    """A dense block that re-finds a lockstep group (same direction, shared accounts)."""
    if block.direction != group.direction:
        return False
    a, b = set(block.members.tolist()), set(group.members.tolist())
    overlap = len(a & b) / max(min(len(a), len(b)), 1)
    return overlap >= config.min_overlap


class GroupDetector:
    """Group membership as a detector (the PyGOD-like contract of ``graphrec.anomaly``).

    ``decision_function`` is :attr:`GroupReport.membership`; ``threshold_`` is fixed at 0.5: a
    user is flagged when he hit at least half the targets of a group whose extreme ratings are
    at least half unexplained. Unsupervised: ``y`` is accepted and ignored.

    Args:
        config: :class:`GroupConfig` (default).
    """

    def __init__(self, config: GroupConfig | None = None, threshold: float = 0.5) -> None:
        self.config = config or GroupConfig()
        self.threshold_ = float(threshold)
        self.report_: GroupReport | None = None
        self.decision_score_: np.ndarray | None = None

    def fit(self, ratings: Ratings, y: np.ndarray | None = None) -> GroupDetector:
        self.report_ = detect_groups(ratings, self.config)
        self.decision_score_ = self.report_.membership
        return self

    def decision_function(self, ratings: Ratings) -> np.ndarray:
        """Membership scores ``[num_users]`` of ``ratings`` (groups are detected on it)."""
        return detect_groups(ratings, self.config).membership

    def predict(self, ratings: Ratings) -> np.ndarray:
        """0/1 per user: membership ≥ ``threshold_``. Shapes: ``[num_users]`` int64."""
        return (self.decision_function(ratings) >= self.threshold_).astype(np.int64)
