"""Power-user and power-item attacks (Wilson & Seminario 2013; Seminario & Wilson 2014, 2016).

Both exploit influence in neighbourhood-based recommenders. Power users are the users who sit in
many others' neighbourhoods; fakes that copy them inherit those neighbourhoods. Power items are
the items that weigh most in item-based predictions; fakes that rate them (plus the target) tie
the target to them. Influence is measured by number of ratings or by in-degree in the k-nearest-
neighbour graph of the similarity matrix, Seminario & Wilson's degree-centrality heuristic.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from graphrec.anomaly.attack_models import (
    Profile,
    RatingStats,
    extreme,
    filler_ratings,
    sample_items,
    sample_lengths,
)
from graphrec.anomaly.inject.copying import add_copy
from graphrec.anomaly.inject.family_options import (
    IN_DEGREE,
    NUM_RATINGS,
    PowerItemConfig,
    PowerUserConfig,
)
from graphrec.anomaly.inject.shilling import campaign_window, run_campaign
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import POWER_ITEM, POWER_USER, SELECTED, TARGET
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

SIMILARITY_BLOCK = 2**24  # similarity entries computed at once (128 MB of float64)


def centred_matrix(ratings: Ratings) -> sp.csr_matrix:
    """[num_users, num_items] ratings minus each user's mean: rows give Pearson-like user
    similarity, columns the adjusted cosine of item-based CF (Sarwar et al. 2001)."""
    ev = ratings.events
    users = ev["user"].to_numpy()
    values = ev["rating"].to_numpy(np.float64)
    count = np.bincount(users, minlength=ratings.num_users)
    mean = np.bincount(users, weights=values, minlength=ratings.num_users) / np.maximum(count, 1)
    shape = (ratings.num_users, ratings.num_items)
    return sp.csr_matrix((values - mean[users], (users, ev["item"].to_numpy())), shape=shape)


def knn_in_degree(vectors: sp.csr_matrix, num_neighbors: int) -> np.ndarray:
    """[N] how many rows have each row among their ``num_neighbors`` most cosine-similar rows
    (only positive similarities count), computed block by block to bound memory."""
    n = vectors.shape[0]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    unit = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors  # [N, D]
    unit_t = unit.T.tocsr()
    k = min(num_neighbors, n - 1)
    degree = np.zeros(n, dtype=np.int64)
    if k < 1:
        return degree
    block = max(1, SIMILARITY_BLOCK // max(n, 1))
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = (unit[start:stop] @ unit_t).toarray()  # [B, N]
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # [B, k]
        positive = np.take_along_axis(sims, top, axis=1) > 0
        degree += np.bincount(top[positive], minlength=n)
    return degree


def _rank(score: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Entities with events, most influential first (ties: more ratings, then lower id)."""
    order = np.lexsort((np.arange(len(score)), -count, -score))
    return order[count[order] > 0]


def power_users(ratings: Ratings, selection: str, num_neighbors: int = 50) -> np.ndarray:
    """User ids (contiguous) ranked by influence: kNN in-degree or number of ratings."""
    count = np.bincount(ratings.events["user"].to_numpy(), minlength=ratings.num_users)
    if selection == NUM_RATINGS:
        return _rank(count, count)
    if selection == IN_DEGREE:
        return _rank(knn_in_degree(centred_matrix(ratings), num_neighbors), count)
    raise ValueError(f"selection must be {IN_DEGREE!r} or {NUM_RATINGS!r}, got {selection!r}")


def power_items(ratings: Ratings, selection: str, num_neighbors: int = 50) -> np.ndarray:
    """Item ids ranked by influence: number of ratings or in-degree in the item kNN graph."""
    count = np.bincount(ratings.events["item"].to_numpy(), minlength=ratings.num_items)
    if selection == NUM_RATINGS:
        return _rank(count, count)
    if selection == IN_DEGREE:
        vectors = centred_matrix(ratings).T.tocsr()
        return _rank(knn_in_degree(vectors, num_neighbors), count)
    raise ValueError(f"selection must be {IN_DEGREE!r} or {NUM_RATINGS!r}, got {selection!r}")


def build_power_item_profile(
    stats: RatingStats,
    rng: np.random.Generator,
    *,
    ranked: np.ndarray,
    pool_share: float,
    direction: str,
    targets: np.ndarray,
    num_items: int,
) -> Profile:
    """``num_items`` power items drawn uniformly from the top ``pool_share`` of ``ranked``
    (widened to ``num_items``), each rated with a real rating of it, plus the targets."""
    targets = np.asarray(targets, dtype=np.int64)
    head = ranked[~np.isin(ranked, targets)]
    cut = max(int(np.ceil(pool_share * stats.num_rated)), num_items)
    chosen = sample_items(stats, rng, num_items, pool=head[:cut], by_popularity=False)
    return Profile(
        items=np.concatenate([targets, chosen]),
        ratings=np.concatenate(
            [
                np.full(len(targets), extreme(stats, direction)),
                filler_ratings(stats, rng, chosen, per_item=True),
            ]
        ),
        roles=np.array([TARGET] * len(targets) + [SELECTED] * len(chosen), dtype=object),
    )


def inject_power_item(state: State, cfg: PowerItemConfig, rng: np.random.Generator) -> None:
    """Fakes of genuine lengths made of power items rated as users rate them, plus the target."""
    ranked = power_items(state.ratings, cfg.selection, cfg.num_neighbors)

    def build(
        rng: np.random.Generator,
        model: str,
        targets: np.ndarray,
        num_filler: int,
        like: np.ndarray,
        pool: np.ndarray | None,
    ) -> Profile:
        return build_power_item_profile(
            state.stats,
            rng,
            ranked=ranked,
            pool_share=cfg.pool_share,
            direction=cfg.direction,
            targets=targets,
            num_items=num_filler,
        )

    run_campaign(
        state,
        rng,
        cfg,
        kind=POWER_ITEM,
        direction=cfg.direction,
        models=(cfg.selection,),
        build=build,
    )


def _match_lengths(
    state: State, rng: np.random.Generator, ranked: np.ndarray, n: int, keep_share: float
) -> np.ndarray:
    """``n`` distinct users: for each genuine length drawn, the most influential unused user
    among the 2 % (at least 5) whose length is closest to length ÷ ``keep_share``."""
    lengths = np.diff(state.rows_ptr)
    position = np.full(len(lengths), len(ranked))  # influence rank, 0 = most influential
    position[ranked] = np.arange(len(ranked))
    free = lengths > 0
    stratum = max(5, int(0.02 * free.sum()))
    chosen = []
    for length in sample_lengths(state.stats, rng, n):
        candidates = np.flatnonzero(free)
        if len(candidates) == 0:
            break
        gap = np.abs(np.log(lengths[candidates]) - np.log(length / keep_share))
        near = candidates[np.argsort(gap, kind="stable")[:stratum]]
        best = int(near[np.argmin(position[near])])
        free[best] = False
        chosen.append(best)
    return np.array(chosen, dtype=np.int64)


def inject_power_user(state: State, cfg: PowerUserConfig, rng: np.random.Generator) -> None:
    """Each fake copies ``keep_share`` of one distinct power user's ratings, plus the target."""
    n = state.count(cfg.attack_size)
    if n == 0:
        log.warning("attack size %s gives no fake profile", cfg.attack_size)
        return
    targets = state.choose_targets(rng, cfg.num_targets, cfg.targets)
    state.add_targets(targets, POWER_USER, cfg.selection, cfg.direction)
    window = campaign_window(state.stats, rng, cfg.window_seconds)
    items_col = state.ratings.events["item"].to_numpy()
    ranked = power_users(state.ratings, cfg.selection, cfg.num_neighbors)
    sources = ranked[:n]
    if cfg.match_lengths:
        sources = _match_lengths(state, rng, ranked, n, cfg.keep_share)
    for source in sources:
        rows = state.rows_of(int(source))
        rows = rows[~np.isin(items_col[rows], targets)]
        if len(rows) == 0:
            continue
        keep = max(1, int(round(cfg.keep_share * len(rows))))
        rows = rows[np.sort(rng.choice(len(rows), size=keep, replace=False))]
        name = state.new_account(POWER_USER, cfg.selection, rng)
        add_copy(
            state,
            rng,
            name,
            rows,
            targets,
            direction=cfg.direction,
            kind=POWER_USER,
            model=cfg.selection,
            window=window,
            obfuscation=cfg.obfuscation,
        )
