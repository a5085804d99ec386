"""Shilling profile builders and the real-data samplers that keep injected accounts plausible.

A shilling profile (Lam & Riedl 2004; Mobasher et al. 2007, "Toward trustworthy recommender
systems") is a set of selected items I_S, filler items I_F and the target(s):

| model     | selected items I_S                       | fillers I_F             | target    |
| --------- | ---------------------------------------- | ----------------------- | --------- |
| random    | —                                        | global rating dist.     | max / min |
| average   | —                                        | each item's rating dist.| max / min |
| bandwagon | most popular items at max (push);        | global rating dist.     | max / min |
|           | widely disliked items at min (nuke)      |                         |           |
| segment   | the target's segment (genre) at max      | min (push) / max (nuke) | max / min |
| AoP x %   | —                                        | top x % popular, item   | max − 1 / |
|           |                                          | dist. + noise + shift   | min + 1   |

The papers write the filler distributions as normals N(mean, sd); we draw real ratings instead
(same mean and sd, no rounding/clipping bias — see :func:`filler_ratings`). The further families
(love/hate, reverse bandwagon, power users and items, mixed attacks, coordinated rings) and the
obfuscations applicable to all of them are built from these samplers in
:mod:`graphrec.anomaly.inject`.

Injected data is useless for training detectors if the fakes give themselves away by accident:
in SDLib's FilmTrust data fakes have 47–78 ratings against a genuine mean of 23.5, so profile
length alone separates them. Hence every sampler here draws from the genuine data: profile lengths
from the genuine length distribution (stratified), filler items with the popularity profile of a
real user of similar length (short profiles hold blockbusters, long ones reach the tail), ratings
from the real distributions, and timestamps from a real user's activity pattern shifted within
the real span. With uniform fillers instead (``by_popularity=False``, the textbook setting), RDMA
alone separates an average attack on ML-100K with ROC-AUC ≈ 0.98; with these samplers ≈ 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphrec.anomaly.labels import (
    AVERAGE,
    BANDWAGON,
    FILLER,
    NUKE,
    PUSH,
    RANDOM,
    SEGMENT,
    SELECTED,
    TARGET,
)
from graphrec.data.ratings import Ratings

SESSION_GAP_SECONDS = 3600  # gaps up to an hour count as "within a session"


@dataclass
class RatingStats:
    """Everything the samplers need to know about the genuine data, computed once.

    Attributes:
        scale: sorted distinct rating values of the data (the rating scale).
        item_mean: per-item mean rating (the global mean for items nobody rated).
        item_count: number of events per item.
        item_genres: genre tuple of each item.
        item_titles: title of each item.
        item_ptr / item_ratings: CSR of every rating grouped by item (item i's ratings are
            item_ratings[item_ptr[i]:item_ptr[i+1]]), the empirical distributions fillers use.
        all_ratings: every rating value (the global empirical distribution).
        item_rank: popularity rank of each item (0 = most events).
        items_by_rank: items ordered by popularity (inverse of ``item_rank``).
        num_rated: items with at least one event (ranks 0..num_rated-1).
        user_lengths: number of events of each genuine user.
        user_ptr: CSR pointer into ``user_times`` (user u's times are ptr[u]:ptr[u+1]).
        user_times: every user's event times, sorted within user.
        user_items: the items of those events, aligned with ``user_times``.
        short_gaps: within-session inter-arrival gaps of real users (<= one hour).
        t_min / t_max: the data's time span.
    """

    scale: np.ndarray
    item_mean: np.ndarray
    item_count: np.ndarray
    item_genres: list[tuple[str, ...]]
    item_titles: list[str]
    item_ptr: np.ndarray
    item_ratings: np.ndarray
    all_ratings: np.ndarray
    item_rank: np.ndarray
    items_by_rank: np.ndarray
    num_rated: int
    user_lengths: np.ndarray
    user_ptr: np.ndarray
    user_times: np.ndarray
    user_items: np.ndarray
    short_gaps: np.ndarray
    t_min: int
    t_max: int

    @property
    def r_min(self) -> float:
        return float(self.scale[0])

    @property
    def r_max(self) -> float:
        return float(self.scale[-1])

    @property
    def num_items(self) -> int:
        return len(self.item_count)

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> RatingStats:
        """Summaries of ``ratings`` (vectorized: bincounts and two sorts)."""
        ev = ratings.events
        r = ev["rating"].to_numpy(np.float64)
        scale = np.unique(r)
        items_col = ev["item"].to_numpy()
        count = np.bincount(items_col, minlength=ratings.num_items)
        sums = np.bincount(items_col, weights=r, minlength=ratings.num_items)
        item_mean = np.where(count > 0, sums / np.maximum(count, 1), r.mean())

        by_item = np.argsort(items_col, kind="stable")
        items_by_rank = np.argsort(-count, kind="stable")
        item_rank = np.empty_like(items_by_rank)
        item_rank[items_by_rank] = np.arange(len(items_by_rank))

        order = np.lexsort((ev["timestamp"].to_numpy(), ev["user"].to_numpy()))
        users = ev["user"].to_numpy()[order]
        times = ev["timestamp"].to_numpy(np.int64)[order]
        lengths = np.bincount(users, minlength=ratings.num_users)
        ptr = np.concatenate([[0], np.cumsum(lengths)])
        gaps = np.diff(times)
        same_user = users[1:] == users[:-1]
        short = gaps[same_user & (gaps >= 0) & (gaps <= SESSION_GAP_SECONDS)]
        return cls(
            scale=scale,
            item_mean=item_mean,
            item_count=count,
            item_genres=list(ratings.items["genres"]),
            item_titles=list(ratings.items["title"]),
            item_ptr=np.concatenate([[0], np.cumsum(count)]),
            item_ratings=r[by_item],
            all_ratings=r,
            item_rank=item_rank,
            items_by_rank=items_by_rank,
            num_rated=int((count > 0).sum()),
            user_lengths=lengths[lengths > 0],
            user_ptr=ptr,
            user_times=times,
            user_items=items_col[order],
            short_gaps=short if len(short) else np.ones(1, dtype=np.int64),
            t_min=int(times.min()),
            t_max=int(times.max()),
        )

    def times_of(self, user: int) -> np.ndarray:
        """Sorted event times of genuine user ``user`` (a contiguous id of the source data)."""
        return self.user_times[self.user_ptr[user] : self.user_ptr[user + 1]]

    def items_of(self, user: int) -> np.ndarray:
        """Items of genuine user ``user``, in time order."""
        return self.user_items[self.user_ptr[user] : self.user_ptr[user + 1]]

    def template_user(self, rng: np.random.Generator, n: int) -> int:
        """A random genuine user whose length is within a factor 2 of ``n`` (any if none)."""
        lengths = np.diff(self.user_ptr)
        near = np.flatnonzero((lengths >= max(1, n // 2)) & (lengths <= 2 * n))
        if len(near) == 0:
            near = np.flatnonzero(lengths > 0)
        return int(rng.choice(near))


@dataclass
class Profile:
    """Items, ratings and event roles of one injected profile (aligned arrays)."""

    items: np.ndarray
    ratings: np.ndarray
    roles: np.ndarray

    def __len__(self) -> int:
        return len(self.items)


def round_to_scale(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Snap values to the nearest value of the rating scale (clipping to its ends)."""
    mids = (scale[1:] + scale[:-1]) / 2
    return scale[np.searchsorted(mids, values)].astype(np.float64)


def sample_lengths(
    stats: RatingStats, rng: np.random.Generator, n: int, mean: float | None = None
) -> np.ndarray:
    """``n`` profile lengths from the genuine users' length distribution.

    With ``mean`` the genuine distribution is rescaled to that mean (its shape kept), which is how
    a fixed filler size is honoured without giving every fake the same length.
    """
    # Stratified quantile draws: the sample's distribution tracks the genuine one even for a
    # handful of fakes, so neither the mean nor the spread of lengths betrays them.
    u = (np.arange(n) + rng.random(n)) / max(n, 1)
    drawn = np.quantile(stats.user_lengths, u, method="inverted_cdf").astype(np.float64)
    rng.shuffle(drawn)
    if mean is not None:
        drawn = drawn * mean / stats.user_lengths.mean()
    return np.maximum(np.rint(drawn), 1).astype(np.int64)


def sample_items(
    stats: RatingStats,
    rng: np.random.Generator,
    k: int,
    *,
    exclude: np.ndarray | None = None,
    pool: np.ndarray | None = None,
    by_popularity: bool = True,
    like: np.ndarray | None = None,
) -> np.ndarray:
    """``k`` distinct items, drawn the way real users choose them.

    With ``like`` (a real user's items) each drawn item has nearly the popularity rank of one of
    the template's items: short real profiles hold mostly blockbusters, long ones reach into the
    tail, and a fake of a given length copies that shape — popularity summaries (DegreeSAD) then
    tell it nothing. Otherwise Gumbel top-k on log popularity samples without replacement with
    probability proportional to the event count. Items nobody rated are never drawn.

    Args:
        exclude: items that may not be drawn (already in the profile).
        pool: restrict the draw to these items (AoP's popular head, a segment); ignores ``like``.
        by_popularity: False draws uniformly among rated items (the textbook filler choice).
        like: template items whose popularity ranks the draw imitates.
    """
    if like is not None and len(like) and pool is None and by_popularity:
        return _sample_like(stats, rng, k, like, exclude)
    weight = stats.item_count.astype(np.float64)
    if pool is not None:
        mask = np.zeros(stats.num_items, dtype=bool)
        mask[pool] = True
        weight = np.where(mask, weight, 0.0)
    if exclude is not None and len(exclude):
        weight[np.asarray(exclude, dtype=np.int64)] = 0.0
    if not by_popularity:
        weight = (weight > 0).astype(np.float64)
    available = int((weight > 0).sum())
    k = min(k, available)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(weight) + rng.gumbel(size=stats.num_items)
    return np.argpartition(-keys, k - 1)[:k].astype(np.int64)


def _sample_like(
    stats: RatingStats,
    rng: np.random.Generator,
    k: int,
    like: np.ndarray,
    exclude: np.ndarray | None,
) -> np.ndarray:
    """Items whose popularity ranks follow the template's (jittered, nearest free rank)."""
    n_rated = stats.num_rated
    free = np.ones(n_rated, dtype=bool)
    if exclude is not None and len(exclude):
        ranks = stats.item_rank[np.asarray(exclude, dtype=np.int64)]
        free[ranks[ranks < n_rated]] = False
    k = min(k, int(free.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    ranks = np.sort(stats.item_rank[np.asarray(like, dtype=np.int64)])
    u = (np.arange(k) + rng.random(k)) / k  # stratified: the k ranks keep the template's shape
    wanted = np.quantile(ranks, u, method="inverted_cdf").astype(np.int64)
    window = max(3, n_rated // 100)
    wanted = np.clip(wanted + rng.integers(-window, window + 1, size=k), 0, n_rated - 1)
    chosen = np.empty(k, dtype=np.int64)
    for j, rank in enumerate(rng.permutation(wanted)):
        chosen[j] = _nearest_free(free, int(rank))
        free[chosen[j]] = False
    return stats.items_by_rank[chosen].astype(np.int64)


def _nearest_free(free: np.ndarray, rank: int) -> int:
    """The free rank closest to ``rank`` (ties toward the more popular side)."""
    for step in range(len(free)):
        if rank - step >= 0 and free[rank - step]:
            return rank - step
        if rank + step < len(free) and free[rank + step]:
            return rank + step
    raise ValueError("no free item rank left")


def sample_times(stats: RatingStats, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` sorted timestamps with a real user's rhythm, shifted within the real span.

    A real user of similar length is the template: ``n`` of their event times are drawn (with
    replacement only when they have fewer), each moved by one real within-session gap so repeats
    spread out, and the whole sequence is shifted by a random offset that keeps it inside
    [t_min, t_max]. Fakes thus get sessions, pauses and a start date like genuine users.
    """
    template = stats.times_of(stats.template_user(rng, n))
    idx = np.sort(rng.choice(len(template), size=n, replace=n > len(template)))
    times = np.sort(template[idx] + rng.choice(stats.short_gaps, size=n))
    return fit_into_span(times, stats, rng)


def fit_into_span(times: np.ndarray, stats: RatingStats, rng: np.random.Generator) -> np.ndarray:
    """Shift sorted ``times`` by a random offset keeping them inside the real span.

    A sequence longer than the span is compressed linearly onto it.
    """
    times = np.asarray(times, dtype=np.int64)
    if len(times) == 0:
        return times
    lo, hi = stats.t_min - int(times[0]), stats.t_max - int(times[-1])
    if lo <= hi:
        return times + int(rng.integers(lo, hi + 1))
    width = max(int(times[-1] - times[0]), 1)
    scaled = (times - times[0]).astype(np.float64) * (stats.t_max - stats.t_min) / width
    return (stats.t_min + np.rint(scaled)).astype(np.int64)


def extreme(stats: RatingStats, direction: str, shift: float = 0.0) -> float:
    """The target rating of an attack: max for push, min for nuke, moved ``shift`` inward."""
    if direction == PUSH:
        return float(round_to_scale(np.array([stats.r_max - shift]), stats.scale)[0])
    if direction == NUKE:
        return float(round_to_scale(np.array([stats.r_min + shift]), stats.scale)[0])
    raise ValueError(f"direction must be 'push' or 'nuke', got {direction!r}")


def filler_ratings(
    stats: RatingStats,
    rng: np.random.Generator,
    items: np.ndarray,
    *,
    per_item: bool,
) -> np.ndarray:
    """Filler ratings from the real distributions: each item's (average) or the global (random).

    The literature writes N(item mean, item sd) and N(global mean, global sd); rounding and
    clipping such normals to a 1–5 scale pulls them toward the middle (a 4.3-mean item's draws
    average below 4.3), a bias a detector would learn instead of the attack. Drawing a real rating
    of the item (or of the whole data) has the intended mean and sd and the exact shape.
    """
    items = np.asarray(items, dtype=np.int64)
    if not per_item:
        return rng.choice(stats.all_ratings, size=len(items)).astype(np.float64)
    count = stats.item_ptr[items + 1] - stats.item_ptr[items]
    picked = stats.item_ptr[items] + np.floor(rng.random(len(items)) * count).astype(np.int64)
    values = stats.item_ratings[np.minimum(picked, len(stats.item_ratings) - 1)]
    fallback = rng.choice(stats.all_ratings, size=len(items))
    return np.where(count > 0, values, fallback).astype(np.float64)


def segment_items(stats: RatingStats, target: int) -> np.ndarray:
    """Items of the target's segment: sharing a genre with it (the rated ones).

    Mobasher et al.'s segment is "items liked by the users the attacker wants to reach" (e.g.
    Harrison Ford films); a genre is the segment the metadata gives us. Without genres the
    segment falls back to the whole rated catalogue (the attack degenerates to bandwagon-like).
    """
    genres = set(stats.item_genres[target])
    rated = stats.item_count > 0
    if genres:
        members = np.array([bool(genres & set(g)) for g in stats.item_genres]) & rated
        members[target] = False
        if members.any():
            return np.flatnonzero(members)
    others = rated.copy()
    others[target] = False
    return np.flatnonzero(others)


def build_shilling_profile(
    stats: RatingStats,
    rng: np.random.Generator,
    *,
    model: str,
    direction: str,
    targets: np.ndarray,
    num_filler: int,
    num_selected: int = 3,
    by_popularity: bool = True,
    like: np.ndarray | None = None,
    filler_pool: np.ndarray | None = None,
) -> Profile:
    """One fake profile of a classic attack model (see the module table).

    Args:
        model: ``random``, ``average``, ``bandwagon`` or ``segment``.
        direction: ``push`` (target at max) or ``nuke`` (target at min). A nuke bandwagon is the
            reverse bandwagon (unpopular selected items at min); a nuke segment mirrors the push
            one (segment items at min, fillers at max) so the target moves with its segment.
        targets: the attacked items (every profile rates all of them).
        num_filler: |I_F| of this profile.
        num_selected: |I_S| for bandwagon and segment.
        by_popularity: filler items by popularity (plausible) rather than uniformly.
        like: a real user's items whose popularity profile the fillers imitate.
        filler_pool: average over popular (AoP, Hurley et al. 2009) — fillers drawn uniformly
            from these items and rated from each item's distribution (segment keeps its fixed
            filler rating).
    """
    targets = np.asarray(targets, dtype=np.int64)
    target_rating = extreme(stats, direction)
    rated = np.flatnonzero(stats.item_count > 0)
    selected = np.zeros(0, dtype=np.int64)
    selected_rating = target_rating
    if model == BANDWAGON:
        by_pop = rated[np.argsort(-stats.item_count[rated], kind="stable")]
        if direction == NUKE:  # reverse bandwagon: items few like, but with enough ratings
            liked = by_pop[stats.item_count[by_pop] >= np.median(stats.item_count[rated])]
            by_pop = liked[np.argsort(stats.item_mean[liked], kind="stable")]
        head = by_pop[~np.isin(by_pop, targets)][: max(num_selected * 3, num_selected)]
        selected = rng.choice(head, size=min(num_selected, len(head)), replace=False)
    elif model == SEGMENT:
        members = segment_items(stats, int(targets[0]))
        members = members[~np.isin(members, targets)]
        members = members[np.argsort(-stats.item_count[members], kind="stable")]
        head = members[: max(num_selected * 3, num_selected)]
        selected = rng.choice(head, size=min(num_selected, len(head)), replace=False)
    elif model not in (RANDOM, AVERAGE):
        raise ValueError(
            f"unknown shilling model {model!r}; expected one of random, average, bandwagon, segment"
        )
    fillers = sample_items(
        stats,
        rng,
        num_filler,
        exclude=np.concatenate([targets, selected]),
        pool=filler_pool,
        by_popularity=by_popularity and filler_pool is None,
        like=like,
    )
    if model == SEGMENT:
        fill = np.full(len(fillers), extreme(stats, NUKE if direction == PUSH else PUSH))
    else:
        per_item = model == AVERAGE or filler_pool is not None
        fill = filler_ratings(stats, rng, fillers, per_item=per_item)
    return Profile(
        items=np.concatenate([targets, selected, fillers]),
        ratings=np.concatenate(
            [np.full(len(targets), target_rating), np.full(len(selected), selected_rating), fill]
        ),
        roles=np.array(
            [TARGET] * len(targets) + [SELECTED] * len(selected) + [FILLER] * len(fillers),
            dtype=object,
        ),
    )


def build_obfuscated_profile(
    stats: RatingStats,
    rng: np.random.Generator,
    *,
    direction: str,
    targets: np.ndarray,
    num_filler: int,
    top_share: float = 0.2,
    noise_sd: float = 0.3,
    user_shift_sd: float = 0.3,
    target_shift: float = 1.0,
) -> Profile:
    """An obfuscated AoP attack profile (Hurley et al. 2009; Williams et al. 2006).

    Average-over-popular: fillers come only from the ``top_share`` most popular items and are
    rated from each item's distribution; then every vote gets Gaussian noise, the whole profile a
    per-user shift, and the target is shifted inward (max − 1 for push, min + 1 for nuke) — the
    three obfuscations that defeat detectors keyed on extreme target ratings and filler variance.
    """
    targets = np.asarray(targets, dtype=np.int64)
    rated = np.flatnonzero(stats.item_count > 0)
    cut = max(int(np.ceil(top_share * len(rated))), num_filler + len(targets))
    head = rated[np.argsort(-stats.item_count[rated], kind="stable")][:cut]
    fillers = sample_items(stats, rng, num_filler, exclude=targets, pool=head)
    shift = rng.normal(0.0, user_shift_sd)
    raw = filler_ratings(stats, rng, fillers, per_item=True)
    raw = raw + rng.normal(0.0, noise_sd, size=len(fillers)) + shift
    target_rating = extreme(stats, direction, shift=target_shift)
    return Profile(
        items=np.concatenate([targets, fillers]),
        ratings=np.concatenate(
            [np.full(len(targets), target_rating), round_to_scale(raw, stats.scale)]
        ),
        roles=np.array([TARGET] * len(targets) + [FILLER] * len(fillers), dtype=object),
    )
