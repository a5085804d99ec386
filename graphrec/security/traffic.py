"""Per-account query traffic: benign users replaying their histories, and stream containers.

* A query is a tuple of item ids (oldest first), as sent to the oracle. A *stream* is one
  account's queries in the order sent; detectors take per-account streams as a list or a mapping
  ``account -> stream`` (:data:`Streams`).
* Benign traffic (:func:`replay_queries`, :func:`benign_streams`): a real user replaying their
  history as oracle queries, one query every ``stride`` events, each the window of their most
  recent ``max_len`` items so far (prefix windows). ``stride = 1`` (a query after every single
  rating) is the most demanding benign traffic: consecutive windows share all but one item.
* Users are split into disjoint groups (:func:`split_users`): detector-training, calibration and
  evaluation users, so thresholds are calibrated on users the detector never saw and false
  positives are measured on users the calibration never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from graphrec.data.split import user_histories

Query = tuple[int, ...]
"""A query: item ids (0-based), oldest first, as sent to the oracle."""
Streams = Sequence[Sequence[Sequence[int]]] | Mapping[str, Sequence[Sequence[int]]]
"""Per-account query streams (a list of streams, or a mapping account -> stream)."""


def account_names(streams: Streams) -> list:
    """The accounts of per-account streams: a mapping's keys, or positions ``0..N-1``."""
    return list(streams.keys()) if isinstance(streams, Mapping) else list(range(len(streams)))


def as_stream_list(streams: Streams) -> list[list[Query]]:
    """Per-account streams as a list (a mapping's values, in its order)."""
    values = streams.values() if isinstance(streams, Mapping) else streams
    return [list(stream) for stream in values]


def replay_queries(
    history: Sequence[int] | np.ndarray,
    *,
    max_len: int = 50,
    stride: int = 1,
    min_len: int | None = None,
) -> list[tuple[int, ...]]:
    """A user's history replayed as queries: the latest ``max_len`` items every ``stride`` items.

    Query ``t`` (``t = min_len, min_len + stride, ...`` up to the whole history, which is always
    included) is ``history[max(0, t - max_len) : t]``. ``min_len`` defaults to ``stride``: a
    user who asks for recommendations every ``stride`` ratings asks first after ``stride`` of them.
    """
    min_len = stride if min_len is None else min_len
    if max_len < 1 or stride < 1 or min_len < 1:
        raise ValueError(
            f"max_len, stride and min_len must be >= 1, got {max_len}, {stride}, {min_len}"
        )
    items = np.asarray(history, dtype=np.int64)
    ends = list(range(min_len, len(items) + 1, stride))
    if len(items) >= min_len and (not ends or ends[-1] != len(items)):
        ends.append(len(items))
    return [tuple(int(i) for i in items[max(0, t - max_len) : t]) for t in ends]


def benign_streams(
    events: pd.DataFrame,
    users: Sequence[int] | np.ndarray,
    *,
    num_users: int | None = None,
    max_len: int = 50,
    stride: int = 1,
    min_len: int | None = None,
) -> dict[str, list[tuple[int, ...]]]:
    """Replayed query streams of ``users`` (time-ordered events), keyed ``"user<id>"``.

    Args:
        events: ``user, item, timestamp`` events (e.g. ``ratings.events``: the whole history).
        users: the users to replay.
        num_users: user id range (default ``max(events.user) + 1``).
        max_len, stride, min_len: see :func:`replay_queries`.
    """
    num_users = int(events["user"].max()) + 1 if num_users is None else num_users
    histories = user_histories(events, num_users)
    return {
        f"user{int(u)}": replay_queries(
            histories[int(u)], max_len=max_len, stride=stride, min_len=min_len
        )
        for u in users
        if len(histories[int(u)]) >= (stride if min_len is None else min_len)
    }


def split_users(
    users: Sequence[int] | np.ndarray,
    fractions: Sequence[float] = (0.4, 0.3, 0.3),
    *,
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    """Disjoint random groups of users (e.g. encoder-training / calibration / evaluation).

    Args:
        users: user ids (duplicates removed).
        fractions: group shares, summing to 1 (default 40 / 30 / 30 %).
        seed: shuffle seed.

    Returns:
        One sorted id array per fraction; together they hold every user exactly once.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    if len(fractions) < 2 or (fractions <= 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be >= 2 positive shares summing to 1, got {fractions}")
    unique = np.unique(np.asarray(users, dtype=np.int64))
    if len(unique) < len(fractions):
        raise ValueError(f"{len(unique)} users cannot fill {len(fractions)} groups")
    order = np.random.default_rng(seed).permutation(unique)
    cuts = np.round(np.cumsum(fractions)[:-1] * len(unique)).astype(int)
    cuts = np.clip(cuts, 1, len(unique) - 1)
    return tuple(np.sort(group) for group in np.split(order, cuts))
