"""What group detection returns: the record each method produces and the report built from them.

Both methods (:mod:`.lockstep`, :mod:`.dense_block`) emit :class:`DetectedGroup` records;
:func:`build_report` ranks them, turns contiguous ids into raw ids and titles, and computes the
per-user membership score that makes groups usable as a detector feature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graphrec.anomaly.groups.config import GROUP_COLUMNS, LOCKSTEP, TARGET_TABLE_COLUMNS
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)


@dataclass
class DetectedGroup:
    """One group as a method found it (contiguous ids), before ranking and reporting."""

    direction: str
    method: str
    members: np.ndarray  # contiguous user ids, sorted
    coverage: np.ndarray  # share of the group's targets each member hit, aligned with members
    targets: np.ndarray  # contiguous item ids, sorted
    window: tuple[int, int] | None
    density: float
    suspicion: float
    confidence: float
    target_stats: pd.DataFrame  # index item: extreme_count, expected, suspicion


@dataclass
class GroupReport:
    """Detected groups, their targets and a per-user membership score.

    Attributes:
        groups: one row per group, columns :data:`GROUP_COLUMNS`: ``group`` id (0.., most
            suspicious first), ``direction`` (push / nuke), ``method`` (lockstep / dense_block),
            ``members`` and ``targets`` (tuples of contiguous ids) with their raw ids
            (``member_ids``, ``target_ids``) and ``target_titles``, ``window_start`` /
            ``window_end`` (Int64 seconds, NA without time evidence), ``size`` (members),
            ``num_targets``, ``density`` (FRAUDAR's f(S)/|S| of the members × targets block),
            ``suspicion`` (summed log-likelihood ratios) and ``confidence`` (share of the block's
            extreme ratings the null does not explain, 0–1: roughly the fakes' share).
        targets: one row per (group, target item), columns :data:`TARGET_TABLE_COLUMNS`.
        membership: ``[num_users]`` group-membership score in 0–1: the largest, over the groups
            a user is in, of the group's confidence × the share of its targets the user hit. Zero
            for users in no group: usable as a detector feature.
        user_ids: raw id of each contiguous user id.
    """

    groups: pd.DataFrame
    targets: pd.DataFrame
    membership: np.ndarray
    user_ids: np.ndarray = field(repr=False)

    def target_items(self) -> np.ndarray:
        """Distinct contiguous ids of all reported target items."""
        return np.unique(self.targets["item"].to_numpy(np.int64))

    def flagged(self, threshold: float = 0.5) -> np.ndarray:
        """Contiguous ids of users with membership at least ``threshold``."""
        return np.flatnonzero(self.membership >= threshold)

    def members(self) -> pd.DataFrame:
        """One row per (group, member): ``group, user, user_id, direction, method``."""
        rows = [
            (g, int(u), str(self.user_ids[u]), d, m)
            for g, us, d, m in zip(
                self.groups["group"],
                self.groups["members"],
                self.groups["direction"],
                self.groups["method"],
                strict=True,
            )
            for u in us
        ]
        return pd.DataFrame(rows, columns=["group", "user", "user_id", "direction", "method"])

    def membership_frame(self) -> pd.DataFrame:
        """``user, user_id, group_score`` for every user (the detector-feature view)."""
        return pd.DataFrame(
            {
                "user": np.arange(len(self.membership), dtype=np.int64),
                "user_id": self.user_ids.astype(str),
                "group_score": self.membership,
            }
        )


def build_report(ratings: Ratings, found: list[DetectedGroup]) -> GroupReport:
    """Rank ``found`` by suspicion into a :class:`GroupReport` with raw ids, titles, membership."""
    found = sorted(found, key=lambda g: -g.suspicion)
    membership = np.zeros(ratings.num_users, dtype=np.float64)
    user_ids = np.asarray(ratings.user_ids, dtype=object)
    item_ids = np.asarray(ratings.item_ids, dtype=object)
    titles = ratings.items["title"].astype(str).to_numpy() if "title" in ratings.items else None
    rows, target_rows = [], []
    for gid, g in enumerate(found):
        np.maximum.at(membership, g.members, g.confidence * g.coverage)
        rows.append(
            {
                "group": gid,
                "direction": g.direction,
                "method": g.method,
                "members": tuple(int(u) for u in g.members),
                "member_ids": tuple(str(user_ids[u]) for u in g.members),
                "targets": tuple(int(i) for i in g.targets),
                "target_ids": tuple(str(item_ids[i]) for i in g.targets),
                "target_titles": tuple(
                    str(titles[i]) if titles is not None else "" for i in g.targets
                ),
                "window_start": None if g.window is None else g.window[0],
                "window_end": None if g.window is None else g.window[1],
                "size": len(g.members),
                "num_targets": len(g.targets),
                "density": g.density,
                "suspicion": g.suspicion,
                "confidence": g.confidence,
            }
        )
        for item, stat in g.target_stats.iterrows():
            target_rows.append(
                (
                    gid,
                    int(item),
                    str(item_ids[int(item)]),
                    str(titles[int(item)]) if titles is not None else "",
                    g.direction,
                    int(stat["extreme_count"]),
                    float(stat["expected"]),
                    float(stat["suspicion"]),
                )
            )
    groups = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    for column in ("window_start", "window_end"):
        groups[column] = pd.array(groups[column].tolist(), dtype="Int64")
    targets = pd.DataFrame(target_rows, columns=list(TARGET_TABLE_COLUMNS))
    log.info(
        "%d groups (%d lockstep), %d target items, %d users with membership >= 0.5",
        len(groups),
        int((groups["method"] == LOCKSTEP).sum()) if len(groups) else 0,
        targets["item"].nunique() if len(targets) else 0,
        int((membership >= 0.5).sum()),
    )
    return GroupReport(groups=groups, targets=targets, membership=membership, user_ids=user_ids)
