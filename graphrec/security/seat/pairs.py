"""SEAT's pair counting and its two calibrated thresholds.

A pair of queries is *similar* when its squared encoder distance is strictly below the pair
threshold; an account is flagged when its count of similar pairs exceeds the account limit.

* The pair threshold (:func:`pair_threshold`) is the ``pair_fpr`` quantile (default 0.01 %, the
  paper's) of the squared distances of benign query pairs from DIFFERENT calibration accounts
  holding DIFFERENT queries (:func:`benign_pair_distances`). Identical queries are left out: in a
  discrete query space many users ask the same short query (one popular item), and those exact
  duplicates, over 0.01 % of pairs, would pin the threshold at 0 so that no pair could ever count
  as similar. With fewer than ``1 / pair_fpr`` benign pairs the quantile cannot be resolved: the
  threshold is then the smallest benign pair distance and a warning is logged.
* The account limit (:func:`account_limit`) is the split-conformal ``1 - account_fpr`` quantile of
  the calibration accounts' similar-pair counts: a new benign account exceeds it with probability
  at most ``account_fpr``.
* :func:`squared_distance_matrix` is the one formula of the offline counts and the online
  monitor, so both decide every pair the same way.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import Tensor

from graphrec.errors import GraphrecError
from graphrec.security.conformal import conformal_quantile

log = logging.getLogger(__name__)


def count_similar_pairs(embeddings: Tensor, threshold: float, *, block: int = 2048) -> int:
    """Pairs ``i < j`` of rows with squared distance strictly below ``threshold``."""
    return len(similar_pairs(embeddings, threshold, block=block)[0])


def squared_distance_matrix(a: Tensor, b: Tensor) -> Tensor:
    """All squared distances ``||a_i - b_j||^2`` in float64, clamped at 0, ``[n, m]``.

    One formula (``||a||^2 + ||b||^2 - 2 a.b``) for the offline counts and the online monitor, so
    both decide every pair the same way.
    """
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp(min=0)


def similar_pairs(
    embeddings: Tensor, threshold: float, *, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)``, ``i < j``, whose squared distance is strictly below ``threshold``.

    Computed block by block (:func:`squared_distance_matrix`), so thousands of queries never
    need the full distance matrix at once.

    Shapes:
        input: ``[n, d]``; output: two int64 arrays of equal length.
    """
    z = embeddings.detach().double().cpu()  # [n, d]
    n = z.shape[0]
    first: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    second: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        dist = squared_distance_matrix(z[lo:hi], z[lo:])  # [b, n - lo]
        upper = torch.arange(lo, hi)[:, None] < torch.arange(lo, n)[None, :]  # i < j
        rows, cols = torch.nonzero((dist < threshold) & upper, as_tuple=True)
        first.append((rows + lo).numpy().astype(np.int64))
        second.append((cols + lo).numpy().astype(np.int64))
    return np.concatenate(first), np.concatenate(second)


def benign_pair_distances(
    embeddings: Tensor,
    accounts: np.ndarray,
    *,
    query_ids: np.ndarray | None = None,
    max_pairs: int = 2_000_000,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """Squared distances of DISTINCT query pairs from DIFFERENT accounts (all, or a sample).

    All such pairs are used when there are at most ``max_pairs`` cross-account pairs; otherwise
    ``max_pairs`` pairs are drawn uniformly (with replacement) among them.

    Args:
        embeddings: ``[n, d]`` similarity vectors.
        accounts: ``[n]`` account index of each query.
        query_ids: ``[n]`` content id of each query (equal ids = identical queries, whose pairs
            are left out); default: every query distinct.

    Shapes:
        output: ``[P]`` float64.
    """
    z = embeddings.detach().double().cpu()
    n = len(accounts)
    if z.shape[0] != n:
        raise ValueError(f"{z.shape[0]} embeddings for {n} account labels")
    ids = np.arange(n) if query_ids is None else np.asarray(query_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} query ids for {n} account labels")
    sizes = np.bincount(accounts)
    cross = (n * n - int((sizes.astype(np.int64) ** 2).sum())) // 2
    if cross == 0:
        return np.zeros(0)
    rng = generator if generator is not None else np.random.default_rng(0)
    if cross <= max_pairs:
        i, j = np.triu_indices(n, k=1)
        keep = (accounts[i] != accounts[j]) & (ids[i] != ids[j])
        i, j = i[keep], j[keep]
    else:
        draws = int(max_pairs * 1.2) + 16
        i_parts, j_parts, have = [], [], 0
        for _ in range(100):  # bounded: almost every pair could be an identical query
            i = rng.integers(n, size=draws)
            j = rng.integers(n, size=draws)
            keep = (accounts[i] != accounts[j]) & (ids[i] != ids[j])
            i_parts.append(i[keep])
            j_parts.append(j[keep])
            have += int(keep.sum())
            if have >= max_pairs:
                break
        i = np.concatenate(i_parts)[:max_pairs]
        j = np.concatenate(j_parts)[:max_pairs]
    out = np.empty(len(i))
    for lo in range(0, len(i), 1_000_000):
        a = z[torch.from_numpy(i[lo : lo + 1_000_000])]
        b = z[torch.from_numpy(j[lo : lo + 1_000_000])]
        rows = (a.pow(2).sum(1) + b.pow(2).sum(1) - 2 * (a * b).sum(1)).clamp(min=0)
        out[lo : lo + 1_000_000] = rows.numpy()  # the formula of squared_distance_matrix
    return out


def pair_threshold(distances: np.ndarray, fpr: float) -> float:
    """The squared distance below which at most ``fpr`` of the benign pairs fall.

    With ``d_(0) <= d_(1) <= ...`` the sorted distances and ``m = floor(fpr * P)``, the threshold
    is ``d_(m)``: strictly fewer than ``m + 1`` pairs lie strictly below it. With ``P < 1 / fpr``
    (``m = 0``) it is the smallest benign distance: no benign pair counts as similar, the
    requested rate cannot be verified, and a warning says so.
    """
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    if len(distances) == 0:
        raise GraphrecError("no distinct benign queries from different accounts to calibrate on")
    ordered = np.sort(distances)
    m = int(math.floor(fpr * len(ordered)))
    if len(ordered) < math.ceil(1 / fpr):
        log.warning(
            "only %d benign pairs: a %.4g%% pair FPR needs >= %d; using the smallest benign "
            "distance as the threshold (no calibration pair is similar)",
            len(ordered),
            100 * fpr,
            math.ceil(1 / fpr),
        )
    threshold = float(ordered[m])
    if threshold <= 0:
        log.warning(
            "more than %.4g%% of distinct benign pairs embed at distance 0: the pair threshold "
            "is 0 and no pair can count as similar",
            100 * fpr,
        )
    return threshold


def account_limit(counts: np.ndarray, account_fpr: float) -> int:
    """The per-account limit: the conformal ``1 - account_fpr`` quantile of benign counts.

    With the ``n`` calibration counts sorted, the limit is the ``ceil((n + 1)(1 - a))``-th
    smallest (split-conformal rule): at most ``a * n`` calibration accounts exceed it, and a NEW
    benign account exchangeable with them exceeds it with probability at most ``a``. When
    ``n < 1 / a - 1`` that rank is beyond the largest count: the limit is then the largest
    count and the guarantee does not hold (a warning says so).
    """
    return int(conformal_quantile(counts, account_fpr))
