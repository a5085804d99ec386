"""Metrics by user segment: where a model helps (short histories? rare targets?).

Why: a mean over all users hides whether the graph helps the users the literature says it
should (short histories, tail items). Users are assigned to segments from training data only
(history length in training events; the target item's popularity in training events, split into
head / torso / tail thirds of the *items*), then each segment's per-user metrics are averaged,
with the segment's user count beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

HISTORY_EDGES = (20, 50, 150)
"""Upper bounds of the history-length segments: <= 20, 21-50, 51-150, > 150 training events."""
POPULARITY_THIRDS = ("head", "torso", "tail")


def history_segments(lengths: np.ndarray, edges: Sequence[int] = HISTORY_EDGES) -> np.ndarray:
    """Each user's history-length label (``"<=20"``, ``"21-50"``, ``"51-150"``, ``">150"``).

    Shapes:
        lengths ``[N]`` training events per user -> ``[N]`` labels.
    """
    lengths = np.asarray(lengths)
    if (lengths < 0).any():
        raise ValueError("history lengths must be >= 0")
    labels = [f"<={edges[0]}"]
    labels += [f"{low + 1}-{high}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f">{edges[-1]}")
    return np.asarray(labels, dtype=object)[np.searchsorted(edges, lengths, side="left")]


def popularity_segments(train_counts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The popularity third of each target item: ``head`` (the most popular third of the items by
    training events), ``torso`` or ``tail``; ties keep the lower third (a stable rank).

    Shapes:
        train_counts ``[I]`` training events per item, targets ``[N]`` item ids -> ``[N]``.
    """
    counts = np.asarray(train_counts)
    order = np.argsort(-counts, kind="stable")  # most popular first
    rank = np.empty(len(counts), dtype=np.int64)
    rank[order] = np.arange(len(counts))
    third = np.minimum(rank * 3 // max(len(counts), 1), 2)
    return np.asarray(POPULARITY_THIRDS, dtype=object)[third[np.asarray(targets)]]


def segment_table(
    per_user: Mapping[str, np.ndarray], segments: np.ndarray, order: Sequence[str]
) -> list[dict[str, float | str | int]]:
    """One row per segment in ``order``: its user count and the mean of every metric.

    Segments without users are kept with count 0 and NaN means, so tables line up across models.
    """
    rows = []
    for label in order:
        members = segments == label
        row: dict[str, float | str | int] = {"segment": label, "users": int(members.sum())}
        for name, values in per_user.items():
            row[name] = float(np.mean(values[members])) if members.any() else float("nan")
        rows.append(row)
    return rows
