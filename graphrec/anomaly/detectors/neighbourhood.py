"""Aggregation over the user–item–user graph: neighbour means and label propagation inputs.

:func:`neighbour_mean` is the feature half of a mean-aggregation GNN layer (GraphSAGE-mean,
Hamilton et al. 2017); :func:`label_features` shares known labels along "gave the same item the
same value" (FAP-style, Zhang et al. 2015), so one labeled fake exposes its campaign;
:func:`corater_suspicion` shares label-free signals along the same groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from graphrec.anomaly.detectors.events import AccountEvents, events_of
from graphrec.data.ratings import Ratings


def neighbour_mean(events: AccountEvents, values: np.ndarray) -> np.ndarray:
    """One mean-aggregation round over user–item–user: for each account, the mean over its items
    of the mean of ``values`` over the item's *other* raters.

    Shapes:
        values [U, F] -> [U, F] (0 for accounts without co-raters).
    """
    binary = events.matrix()  # [U, I]
    item_sum = binary.T @ values  # [I, F]
    item_count = np.asarray(binary.sum(axis=0)).ravel()  # [I]
    others = item_count[events.item] - 1.0  # [P]
    per_pair = (item_sum[events.item] - values[events.user]) / np.maximum(others, 1.0)[:, None]
    per_pair[others < 1] = 0.0  # [P, F]
    weight = (others >= 1).astype(np.float64)
    total = (
        sp.csr_matrix(
            (weight, (events.user, np.arange(len(events.user)))),
            shape=(events.num_users, len(events.user)),
        )
        @ per_pair
    )  # [U, F]
    count = np.bincount(events.user, weights=weight, minlength=events.num_users)
    return total / np.maximum(count, 1.0)[:, None]


def group_neighbour_stats(
    events: AccountEvents, scores: np.ndarray, known: np.ndarray, prior: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Over each account's (item, value) groups — the accounts that gave the same item the same
    value — the shrunk mean of ``scores`` over the group's other *known* members.

    Used with labels (scores = 0/1 labels, known = labeled) by the supervised and semi-supervised
    detectors (:func:`label_features`): fakes of one campaign share a target at the same extreme
    value, so one known fake exposes the others.

    Args:
        scores: [U] values (ignored where ``known`` is False).
        known: [U] bool.
        prior: pseudo-count of a zero score added to every group (shrinks small groups).

    Returns:
        (max over the account's groups, mean over them), each [U].
    """
    values = np.round(events.rating * 2).astype(np.int64)
    group = events.item * (values.max() + 1) + values  # [P]
    _, group_id = np.unique(group, return_inverse=True)
    s = np.where(known, scores, 0.0)
    k = known.astype(np.float64)
    g_sum = np.bincount(group_id, weights=s[events.user])
    g_cnt = np.bincount(group_id, weights=k[events.user])
    own_s, own_k = s[events.user], k[events.user]
    share = (g_sum[group_id] - own_s) / (g_cnt[group_id] - own_k + prior)  # [P]
    top = np.zeros(events.num_users)
    np.maximum.at(top, events.user, share)
    mean = np.bincount(events.user, weights=share, minlength=events.num_users) / np.maximum(
        events.length, 1.0
    )
    return top, mean


def label_features(ratings: Ratings, labels: np.ndarray, prior: float = 2.0) -> pd.DataFrame:
    """Label-aware aggregation: the share of known anomalies among the accounts that gave the
    account's items the same value (:func:`group_neighbour_stats` with the labels), the account's
    own label excluded — fakes of one campaign share a target at the same value, so labeled fakes
    expose unlabeled ones. Only what ``labels`` holds is used (NaN = unknown).

    Returns:
        DataFrame [num_users] x (``label_group_max``, ``label_group_mean``).
    """
    events = events_of(ratings)
    known = ~np.isnan(labels)
    top, mean = group_neighbour_stats(events, np.nan_to_num(labels), known, prior=prior)
    return pd.DataFrame(
        {"label_group_max": top, "label_group_mean": mean},
        index=pd.RangeIndex(ratings.num_users, name="user"),
    )


def corater_suspicion(
    events: AccountEvents, signals: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Label-free signals shared along "gave the same item the same value": for each signal, the
    shrunk mean of its centred rank over the account's (item, value) co-raters
    (:func:`group_neighbour_stats` with every account known), max and mean over the groups.

    Why: an injected profile alone is often indistinguishable from a person (an average attack's
    fillers sit at the item means), but a campaign's fakes give their target the same extreme
    value, so each fake's co-raters there are the other fakes — mainstream in embedding space
    and incoherent in taste — while a genuine rater's co-raters are a cross-section of people.
    Ranks (centred at 0) keep heavy tails out and shrink small groups towards "typical".

    Args:
        signals: name -> [U] values, larger = more fake-like.

    Returns:
        ``corater_<name>_max`` and ``corater_<name>_mean`` per signal, each [U].
    """
    out: dict[str, np.ndarray] = {}
    known = np.ones(events.num_users, dtype=bool)
    for name, values in signals.items():
        centred = rankdata(values) / len(values) - 0.5
        top, mean = group_neighbour_stats(events, centred, known)
        out[f"corater_{name}_max"], out[f"corater_{name}_mean"] = top, mean
    return out
