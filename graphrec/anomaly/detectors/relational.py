"""Relational inputs: what an account shares with other accounts (copies, campaigns, lockstep).

* ``nn_cos``, ``agree_contain``, ``overlap_contain``, ``agree_ratio``, ``degsim`` — the nearest
  accounts by rating overlap (:func:`similarity_features`): a copied profile is almost wholly
  contained in its source.
* ``group_score``, ``target_llr`` (:func:`campaign_features`) — membership in a push / nuke group
  of :mod:`graphrec.anomaly.groups` and the suspicion of the account's most suspicious extreme
  rating.
* ``same_value_window`` (time only, :func:`same_value_window`) — lockstep: other accounts giving
  the same item the same value within a window (CopyCatch, Beutel et al., WWW 2013).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphrec.anomaly.detectors.events import AccountEvents
from graphrec.anomaly.groups import GroupConfig, detect_groups, item_excess
from graphrec.anomaly.labels import NUKE, PUSH
from graphrec.data.ratings import Ratings


def similarity_features(
    events: AccountEvents,
    *,
    min_overlap: int = 10,
    degsim_k: int = 10,
    block_cells: int = 5_000_000,
) -> dict[str, np.ndarray]:
    """Nearest-account statistics from user × user overlap products, in row blocks.

    Returns ``nn_cos``, ``agree_contain``, ``overlap_contain``, ``agree_ratio`` (module
    docstring) and ``degsim`` (the mean cosine to the ``degsim_k`` nearest accounts, Chirita et
    al. 2005, as :func:`graphrec.anomaly.features.degsim` computes it, from the same cosine
    blocks), each [num_users]. Memory stays at ``block_cells`` dense cells per product.
    """
    num_users = events.num_users
    length = events.length
    binary = events.matrix()  # [U, I]
    binary_t = binary.T.tocsr()
    values = np.round(events.rating * 2) / 2  # repeats averaged: compare on the half-star grid
    _, value_id = np.unique(values, return_inverse=True)
    by_value = sp.csr_matrix(
        (np.ones(len(values)), (events.user, events.item * (value_id.max() + 1) + value_id)),
        shape=(num_users, events.num_items * (value_id.max() + 1)),
    )  # [U, I × V]: one product counts identical (item, value) pairs
    by_value_t = by_value.T.tocsr()
    scaled = events.matrix(events.rating)
    norms = np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=1)).ravel())
    scaled = (
        sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ scaled
    ).tocsr()
    scaled_t = scaled.T.tocsr()

    names = ("nn_cos", "agree_contain", "overlap_contain", "agree_ratio", "degsim")
    out = {name: np.zeros(num_users) for name in names}
    k = min(degsim_k, num_users - 1)
    step = max(1, block_cells // max(num_users, 1))
    for start in range(0, num_users, step):
        stop = min(start + step, num_users)
        rows = np.arange(stop - start)
        overlap = (binary[start:stop] @ binary_t).toarray()  # [B, U]
        agree = (by_value[start:stop] @ by_value_t).toarray()  # [B, U]
        cos = (scaled[start:stop] @ scaled_t).toarray()  # [B, U]
        overlap[rows, rows + start] = 0.0  # not oneself
        agree[rows, rows + start] = 0.0
        cos[rows, rows + start] = -np.inf
        if k > 0:
            out["degsim"][start:stop] = -np.partition(-cos, k - 1, axis=1)[:, :k].mean(axis=1)
        n = np.maximum(length[start:stop], 1.0)[:, None]
        out["nn_cos"][start:stop] = np.maximum(cos.max(axis=1), 0.0)
        out["agree_contain"][start:stop] = (agree / n).max(axis=1)
        out["overlap_contain"][start:stop] = (overlap / n).max(axis=1)
        ratio = np.where(overlap >= min_overlap, agree / np.maximum(overlap, 1.0), 0.0)
        out["agree_ratio"][start:stop] = ratio.max(axis=1)
    out["degsim"][norms == 0] = 0.0
    if degsim_k == 0:
        del out["degsim"]
    return out


def campaign_features(
    ratings: Ratings, events: AccountEvents, with_time: bool
) -> dict[str, np.ndarray]:
    """``group_score``: membership in a push / nuke group of :mod:`graphrec.anomaly.groups`;
    ``target_llr``: the largest suspicion (Poisson log-likelihood ratio of the unexplained extreme
    ratings, :func:`~graphrec.anomaly.groups.item_excess`) among the items this account rated at
    an extreme, log-compressed. Both are zero for accounts that rated no campaign target."""
    report = detect_groups(ratings, GroupConfig(use_time=with_time))
    target = np.zeros(events.num_users)
    scale = np.unique(ratings.events["rating"].to_numpy(np.float64))
    for direction, value in ((PUSH, scale[-1]), (NUKE, scale[0])):
        llr = item_excess(ratings, direction)["llr"].to_numpy(np.float64)
        hit = events.rating == value
        np.maximum.at(target, events.user[hit], llr[events.item[hit]])
    return {"group_score": report.membership, "target_llr": np.log1p(target)}


def same_value_window(ratings: Ratings, window_seconds: int) -> np.ndarray:
    """Per account: the most other accounts' events with the same item and value within
    ± ``window_seconds`` of one of its events. Shapes: [num_users]."""
    ev = ratings.events
    user = ev["user"].to_numpy(np.int64)
    item = ev["item"].to_numpy(np.int64)
    value = np.round(ev["rating"].to_numpy(np.float64) * 2).astype(np.int64)
    time = ev["timestamp"].to_numpy(np.int64)
    rel = time - time.min() + window_seconds
    width = int(rel.max()) + 2 * window_seconds + 1  # keys of two groups never overlap

    def in_window(group: np.ndarray) -> np.ndarray:
        key = group * width + rel
        ranked = np.sort(key)
        return np.searchsorted(ranked, key + window_seconds, side="right") - np.searchsorted(
            ranked, key - window_seconds, side="left"
        )

    group = item * (value.max() + 1) + value
    own = (user * (item.max() + 1) + item) * (value.max() + 1) + value
    others = in_window(group) - in_window(own)  # [E] other accounts' events in the window
    out = np.zeros(ratings.num_users)
    np.maximum.at(out, user, others.astype(np.float64))
    return out


# ---------------------------------------------------------------------------------- sequence
