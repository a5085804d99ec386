"""The ``lockstep`` method: CopyCatch / M-Zoom time windows of extreme ratings (needs timestamps).

Finds, per item, the windows with a significant excess of extreme ratings over the
degree-corrected expectation, and merges windows that share most of their accounts into groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphrec.anomaly.groups.config import LOCKSTEP, GroupConfig
from graphrec.anomaly.groups.dense_block import block_density
from graphrec.anomaly.groups.report import DetectedGroup
from graphrec.anomaly.groups.suspicion import poisson_llr
from graphrec.data.ratings import Ratings


@dataclass
class _Window:
    item: int
    start: int
    end: int
    users: np.ndarray  # sorted contiguous ids
    count: int
    expected: float
    llr: float


def _lockstep_windows(ratings: Ratings, value: float, config: GroupConfig) -> list[_Window]:
    """Per item, the spans of time windows with a significant excess of ``value`` ratings."""
    ev = ratings.events
    rating = ev["rating"].to_numpy(np.float64)
    every_t = np.sort(ev["timestamp"].to_numpy(np.int64))
    total = len(ev)
    pick = rating == value
    user = ev["user"].to_numpy(np.int64)[pick]
    item = ev["item"].to_numpy(np.int64)[pick]
    t = ev["timestamp"].to_numpy(np.int64)[pick]
    if len(t) == 0:
        return []
    order = np.lexsort((t, item))
    user, item, t = user[order], item[order], t[order]
    # First extreme event of each (user, item) pair: an account counts once per item.
    first = np.ones(len(t), dtype=bool)
    pair_order = np.lexsort((t, user, item))
    pu, pi = user[pair_order], item[pair_order]
    dup = np.concatenate([[False], (pu[1:] == pu[:-1]) & (pi[1:] == pi[:-1])])
    first[pair_order[dup]] = False
    user, item, t = user[first], item[first], t[first]

    w = int(config.window_seconds)
    t0 = int(t.min())
    stride = int(t.max()) - t0 + w + 1  # one item's keys never reach the next item's
    key = item * stride + (t - t0)  # sorted: by item, then time
    end = np.searchsorted(key, key + w, side="right")  # [n], exclusive
    count = end - np.arange(len(t))
    activity = np.searchsorted(every_t, t + w, side="right") - np.searchsorted(
        every_t, t, side="left"
    )
    rate = np.bincount(item, minlength=ratings.num_items) / total  # item's extreme events / event
    expected = rate[item] * activity
    llr = poisson_llr(count, expected)
    significant = np.flatnonzero((count >= config.min_group_size) & (llr >= config.min_llr))
    if len(significant) == 0:
        return []
    # Overlapping significant windows of one item merge into one span.
    s_item, s_t = item[significant], t[significant]
    new_span = np.concatenate([[True], (s_item[1:] != s_item[:-1]) | (s_t[1:] > s_t[:-1] + w)])
    lo = significant[new_span]
    hi = np.maximum.reduceat(end[significant], np.flatnonzero(new_span))
    windows = []
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        start, stop = int(t[a]), int(t[b - 1])
        active = int(
            np.searchsorted(every_t, stop, side="right") - np.searchsorted(every_t, start, "left")
        )
        lam = float(rate[item[a]] * active)
        n = b - a
        windows.append(
            _Window(
                item=int(item[a]),
                start=start,
                end=stop,
                users=np.sort(user[a:b]),
                count=n,
                expected=lam,
                llr=float(poisson_llr(np.array([n]), np.array([lam]))[0]),
            )
        )
    return windows


def lockstep_groups(
    ratings: Ratings, direction: str, value: float, config: GroupConfig
) -> list[DetectedGroup]:
    """CopyCatch: windows sharing most accounts form one group; members are in ≥ half of them."""
    windows = _lockstep_windows(ratings, value, config)
    if not windows:
        return []
    parent = list(range(len(windows)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    sets = [set(wd.users.tolist()) for wd in windows]
    for a in range(len(windows)):
        for b in range(a + 1, len(windows)):
            if _jaccard(sets[a], sets[b]) >= config.min_overlap:
                parent[find(a)] = find(b)
    components: dict[int, list[int]] = {}
    for a in range(len(windows)):
        components.setdefault(find(a), []).append(a)
    is_v = ratings.events["rating"].to_numpy(np.float64) == value
    edges = (
        ratings.events["user"].to_numpy(np.int64)[is_v],
        ratings.events["item"].to_numpy(np.int64)[is_v],
    )
    degree = np.bincount(edges[1], minlength=ratings.num_items).astype(np.float64)
    groups = []
    for members_of in components.values():
        parts = [windows[a] for a in members_of]
        users, hits = np.unique(np.concatenate([p.users for p in parts]), return_counts=True)
        keep = hits * 2 >= len(parts)  # CopyCatch: in lockstep on at least half the items
        users, hits = users[keep], hits[keep]
        if len(users) < config.min_group_size:
            continue
        targets = np.array(sorted({p.item for p in parts}), dtype=np.int64)
        count = sum(p.count for p in parts)
        expected = sum(p.expected for p in parts)
        target_stats = (
            pd.DataFrame(
                {
                    "item": [p.item for p in parts],
                    "extreme_count": [p.count for p in parts],
                    "expected": [p.expected for p in parts],
                    "suspicion": [p.llr for p in parts],
                }
            )
            .groupby("item")
            .sum()
        )
        groups.append(
            DetectedGroup(
                direction=direction,
                method=LOCKSTEP,
                members=users,
                coverage=hits / len(parts),
                targets=targets,
                window=(min(p.start for p in parts), max(p.end for p in parts)),
                density=block_density(users, targets, edges, degree, config.column_c),
                suspicion=float(sum(p.llr for p in parts)),
                confidence=float(min(max((count - expected) / count, 0.0), 1.0)),
                target_stats=target_stats,
            )
        )
    return groups


def _jaccard(a: set[int], b: set[int]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0
