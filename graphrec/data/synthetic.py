"""Synthetic MovieLens-like ratings: the offline default data and the scale generator.

The generator is a small generative model whose summary statistics
(:func:`graphrec.data.stats.summary_statistics`) are tuned to the real MovieLens datasets (Harper &
Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015). Each preset carries
the published sizes of one real dataset. The model, step by step:

1. **Items.** Genres from MovieLens's 18 names, with ml-100k's number-of-genres shares (49.5 % one
   genre, 33.8 % two, 12.8 % three, …) and genre marginals (Drama 43 %, Comedy 30 %, …); a release
   year skewed towards the last years before the dataset ends; a Zipf-like popularity weight
   ``w_i ∝ rank_i^-a exp(-rank_i / (c I))`` over a random ranking; a latent factor ``q_i`` = the
   mean of its genres' centroids plus item noise, so that genre consistency is learnable.
2. **Users.** One to three favourite genres; a latent factor ``p_u`` = a Dirichlet mix of the
   favourites' centroids plus user noise (low-rank preferences, Koren, Bell & Volinsky, "Matrix
   Factorization Techniques for Recommender Systems", IEEE Computer 42(8), 2009); a rating bias;
   optional age / gender / occupation drawn from ml-100k's shares.
3. **Activity.** Events per user = the MovieLens minimum of 20 plus a Gamma (shape < 1) tail, scaled
   so the total is exactly the preset's number of ratings, each user capped at the real dataset's
   most active user's count (the excess water-filled onto the others).
4. **Choice.** Each user's items are drawn without replacement from ``softmax(log w_i + β p_u·q_i)``
   by Gumbel-top-k (Kool, van Hoof & Welling, "Stochastic Beams and Where to Find Them", ICML 2019).
   A dense users × items score matrix is out of reach at ml-20m (3.7 billion cells), so the draw is
   approximated by sampling–importance–resampling: ``3 n_u`` candidates are drawn with replacement
   from the popularity weights (alias method), each gets ``β p_u·q_i`` plus Gumbel noise, an item
   drawn m times keeps its best copy (a ``log m`` bonus that preserves the popularity term), and the
   best ``n_u`` distinct items are kept. Pools short of distinct items are redrawn wider, and past
   4× the catalogue replaced by the exact dense draw. Users are processed in chunks of similar
   activity. Items nobody chose then take over one random event each from items rated more than
   once, since MovieLens lists only rated items.
5. **Order (the sequential signal).** A user's taste drifts along a direction ``d_u`` (from one
   favourite genre's centroid towards another's); the chosen items are consumed in the order of
   ``q_i·d_u`` plus noise, so consecutive items are close in the latent space and a next-item model
   beats popularity.
6. **Ratings.** A latent score ``user bias + item bias (higher for popular items) + γ p_u·q_i +
   noise`` is cut at its own quantiles into the preset's rating histogram (ml-100k: 1: 6.1 %,
   2: 11.4 %, 3: 27.1 %, 4: 34.2 %, 5: 21.2 %; ml-20m uses half stars), so the histogram and the
   mean rating match the real data while higher-affinity pairs get higher ratings.
7. **Time.** Each user is active over a log-normal period placed uniformly inside the dataset's
   span; consecutive events break into a new session with a small probability; session
   starts are spread over the active period, events within a session are seconds to minutes apart
   (half of them in the same second, as in MovieLens's batch submissions). Times are sorted within
   the user so they follow the consumption order.

Every random stream comes from one :class:`numpy.random.SeedSequence`, so the output is a pure
function of ``(preset, seed, scale)``. Step 4 lives in :mod:`graphrec.data.item_choice`, the
datasets' published figures in :mod:`graphrec.data.synthetic_presets`.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd

from graphrec.data.item_choice import CHUNK_CELLS, choose_items
from graphrec.data.ratings import Ratings
from graphrec.data.synthetic_presets import (
    GENRE_COUNT_SHARES,
    GENRE_SHARES,
    GENRES,
    MALE_SHARE,
    OCCUPATION_COUNTS,
    OCCUPATIONS,
    PRESETS,
    Preset,
)

logger = logging.getLogger(__name__)


LATENT_DIM = 16
ITEM_NOISE = 0.45  # item factor noise around its genres' centroid (centroid norm ≈ 1)
USER_NOISE = 0.35  # user factor noise around the mix of favourite genres
ORDER_NOISE = 0.15  # noise of the drift ordering key (projections spread about ±0.7)
RATING_AFFINITY = 1.0  # γ: weight of taste in the latent rating score
RATING_NOISE = 0.8
USER_BIAS_STD = 0.5
ITEM_BIAS_STD = 0.35
ITEM_POPULARITY_BIAS = 0.25  # popular items are rated higher (true of MovieLens)
SESSION_BREAK = 1 / 100  # chance that the next event starts a new session
ZERO_GAP_SHARE = 0.5  # share of within-session gaps of 0 s (batch submissions)
MEAN_GAP_SECONDS = 60.0
ACTIVE_DAYS_MEDIAN = 30.0
ACTIVE_DAYS_SIGMA = 1.5
RECENT_YEAR_SHARE = 0.75  # items from the last few years before the dataset ends
SECONDS_PER_DAY = 86_400


def generate(preset: str = "ml-100k", seed: int = 0, *, scale: float = 1.0) -> Ratings:
    """Generate a synthetic MovieLens-like :class:`Ratings` table.

    Args:
        preset: one of :data:`PRESETS` (default ``"ml-100k"``).
        seed: random seed; the output is a pure function of ``(preset, seed, scale)``.
        scale: size factor (default 1.0: the preset's exact sizes). Users and ratings scale with
            it, so the per-user activity distribution (and the minimum of 20) is kept; the
            catalogue scales with its square root, so small worlds still have enough items for
            their heaviest users.

    Returns:
        Events sorted by user and time, item metadata (``title``, ``year``, ``genres``) and user
        metadata (``age``, ``gender``, ``occupation``); raw ids are ``"1"``, ``"2"``, ….

    Raises:
        ValueError: for an unknown preset or a non-positive scale.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    spec = PRESETS[preset]
    num_users, num_items, num_ratings = _sizes(spec, scale)
    # One independent stream per step, so changing one step leaves the others' draws alone.
    rng_latent, rng_items, rng_users, rng_activity, rng_choice, rng_order, rng_rate, rng_time = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)
    )
    start, end = (int(pd.Timestamp(d, tz="UTC").timestamp()) for d in (spec.start, spec.end))
    end += SECONDS_PER_DAY - 1  # the last day is included

    genre_centroids = rng_latent.normal(0.0, LATENT_DIM**-0.5, (len(GENRES), LATENT_DIM))  # [G, k]
    item_genres = _item_genres(num_items, rng_items)  # [I, G] bool
    items = _item_metadata(item_genres, pd.Timestamp(spec.end).year, rng_items)
    item_factors = _item_factors(item_genres, genre_centroids, rng_items)  # [I, k]
    popularity = _popularity_log_weights(
        num_items, spec.popularity_exponent, spec.popularity_cutoff, rng_items
    )  # [I]
    user_factors, drift = _user_factors(num_users, genre_centroids, rng_users)  # [U, k] x2
    activity = _activity(num_users, num_ratings, num_items, spec, rng_activity)  # [U]

    users, chosen = choose_items(activity, popularity, user_factors, item_factors, rng_choice)
    chosen = _rate_every_item(chosen, num_items, rng_choice)
    order = _drift_order(users, chosen, item_factors, drift, rng_order)
    users, chosen = users[order], chosen[order]
    ratings = _ratings(users, chosen, user_factors, item_factors, popularity, spec, rng_rate)
    timestamps = _timestamps(users, activity, start, end, rng_time)

    events = pd.DataFrame(
        {
            "user": users,
            "item": chosen,
            "rating": ratings.astype(np.float32),
            "timestamp": timestamps,
        }
    )
    logger.info(
        "generated %s (seed %d, scale %g): %d users, %d items, %d events",
        preset, seed, scale, num_users, num_items, len(events),
    )  # fmt: skip
    return Ratings(
        events=events,
        user_ids=np.array([str(u + 1) for u in range(num_users)], dtype=object),
        item_ids=np.array([str(i + 1) for i in range(num_items)], dtype=object),
        items=items,
        users=_user_metadata(num_users, rng_users),
        name=f"synthetic-{preset}" if scale == 1.0 else f"synthetic-{preset}@{scale:g}",
        has_timestamps=True,
    )


def _sizes(spec: Preset, scale: float) -> tuple[int, int, int]:
    if scale == 1.0:
        return spec.num_users, spec.num_items, spec.num_ratings
    num_users = max(1, round(spec.num_users * scale))
    min_items = int(np.ceil(spec.min_user_events * spec.num_items / spec.max_user_events))
    num_items = max(min_items, round(spec.num_items * np.sqrt(scale)))
    num_ratings = max(num_users * spec.min_user_events, round(spec.num_ratings * scale))
    num_ratings = min(num_ratings, num_users * _user_cap(spec, num_items))  # tiny worlds
    return num_users, num_items, num_ratings


def _user_cap(spec: Preset, num_items: int) -> int:
    """Most events one user may have: the real maximum, scaled with the catalogue."""
    return max(spec.min_user_events, round(spec.max_user_events * num_items / spec.num_items))


def _item_genres(num_items: int, rng: np.random.Generator) -> np.ndarray:
    """Multi-hot genres: a genre count from ml-100k's shares, then that many distinct genres.

    Returns:
        [num_items, len(GENRES)] bool.
    """
    counts = 1 + rng.choice(len(GENRE_COUNT_SHARES), size=num_items, p=GENRE_COUNT_SHARES)  # [I]
    keys = _genre_logits() + rng.gumbel(size=(num_items, len(GENRES)))  # [I, G]
    return _top_counts(keys, counts)


def _top_counts(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mask of each row's ``counts[row]`` largest keys. Shapes: [N, G], [N] -> [N, G] bool."""
    descending = -np.sort(-keys, axis=1)  # [N, G]
    threshold = np.take_along_axis(descending, counts[:, None] - 1, axis=1)  # [N, 1]
    return keys >= threshold


@functools.cache
def _genre_logits() -> np.ndarray:
    """Gumbel-top-k logits whose draws have ml-100k's genre marginals.

    Drawing ``count`` distinct genres flattens the shares (a common genre cannot be drawn twice),
    so logits proportional to the shares under-represent Drama; a few multiplicative fixed-point
    steps on a fixed sample correct that. Deterministic (own seed), computed once.

    Returns:
        [len(GENRES)] logits.
    """
    rng = np.random.default_rng(0)
    size = 20_000
    counts = 1 + rng.choice(len(GENRE_COUNT_SHARES), size=size, p=GENRE_COUNT_SHARES)  # [n]
    noise = rng.gumbel(size=(size, len(GENRES)))  # [n, G]
    logits = np.log(GENRE_SHARES)
    for _ in range(10):
        achieved = _top_counts(logits + noise, counts).mean(axis=0)  # [G]
        logits = logits + np.log(GENRE_SHARES / np.maximum(achieved, 1e-6))
    return logits


def _item_metadata(genres: np.ndarray, last_year: int, rng: np.random.Generator) -> pd.DataFrame:
    """Titles, release years (mostly the last few years, a long tail back to the 1920s), genres."""
    num_items = len(genres)
    recent = rng.random(num_items) < RECENT_YEAR_SHARE
    age = np.where(recent, rng.geometric(0.4, num_items) - 1, rng.integers(5, 75, num_items))
    years = (last_year - age).astype(int)
    names = np.array(GENRES, dtype=object)
    return pd.DataFrame(
        {
            "title": [f"Synthetic Movie {i + 1} ({y})" for i, y in enumerate(years)],
            "year": years.astype(float),
            "genres": [tuple(names[row]) for row in genres],
        }
    )


def _item_factors(
    genres: np.ndarray, centroids: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Mean of the item's genre centroids plus noise. Shapes: [I, G] x [G, k] -> [I, k]."""
    mean = genres @ centroids / genres.sum(axis=1, keepdims=True)  # [I, k]
    noise = rng.normal(0.0, ITEM_NOISE * LATENT_DIM**-0.5, mean.shape)  # [I, k]
    return (mean + noise).astype(np.float32)


def _popularity_log_weights(
    num_items: int, exponent: float, cutoff: float, rng: np.random.Generator
) -> np.ndarray:
    """Zipf with an exponential cutoff over a random ranking of the items.

    ``log w_i = -a log(rank_i) - rank_i / (cutoff * num_items)``: MovieLens's rank-frequency
    curve is flat in the head (the top items are rated by about 60 % of users) and falls faster
    than a power law in the tail (ml-100k: rank 500 → 65 ratings, 1000 → 16, 1500 → 2).

    Shapes:
        output: [num_items].
    """
    rank = (rng.permutation(num_items) + 1).astype(np.float64)
    return -exponent * np.log(rank) - rank / (cutoff * num_items)


def _user_factors(
    num_users: int, centroids: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Users' taste (a mix of 1-3 favourite genres) and their drift direction.

    Returns:
        factors [U, k] and unit drift directions [U, k]: from the first favourite's centroid
        towards the second's (a random direction for single-genre users).
    """
    num_genres, dim = centroids.shape
    num_favourites = rng.choice([1, 2, 3], size=num_users, p=[0.3, 0.45, 0.25])  # [U]
    keys = np.log(GENRE_SHARES) + rng.gumbel(size=(num_users, num_genres))  # [U, G]
    favourites = np.argsort(-keys, axis=1)[:, :3]  # [U, 3] favourites in drawn order
    mix = rng.dirichlet(np.ones(3), size=num_users)  # [U, 3]
    mix = np.where(np.arange(3) < num_favourites[:, None], mix, 0.0)
    mix /= mix.sum(axis=1, keepdims=True)
    factors = np.einsum("uf,ufk->uk", mix, centroids[favourites])  # [U, k]
    factors += rng.normal(0.0, USER_NOISE * dim**-0.5, factors.shape)
    drift = centroids[favourites[:, 1]] - centroids[favourites[:, 0]]  # [U, k]
    single = num_favourites == 1
    drift[single] = rng.normal(size=(int(single.sum()), dim))
    drift /= np.linalg.norm(drift, axis=1, keepdims=True)
    return factors.astype(np.float32), drift.astype(np.float32)


def _activity(
    num_users: int, num_ratings: int, num_items: int, spec: Preset, rng: np.random.Generator
) -> np.ndarray:
    """Events per user: minimum + Gamma tail, exact total, capped. Shapes: [U] int64."""
    floor = spec.min_user_events
    cap = _user_cap(spec, num_items)
    if num_ratings > num_users * cap:
        raise ValueError(
            f"{num_ratings} ratings do not fit {num_users} users of at most {cap} items each"
        )
    weight = rng.gamma(spec.activity_shape, 1.0, num_users)  # [U]
    extra = np.zeros(num_users)
    free = np.ones(num_users, dtype=bool)
    left = float(num_ratings - num_users * floor)
    for _ in range(num_users):  # water-filling: users over the cap are fixed at it
        extra[free] = left * weight[free] / weight[free].sum()
        over = free & (extra > cap - floor)
        if not over.any():
            break
        extra[over] = cap - floor
        free &= ~over
        left = float(num_ratings - num_users * floor - extra[~free].sum())
    counts = np.floor(extra).astype(np.int64)
    short = num_ratings - num_users * floor - int(counts.sum())
    remainder = np.where(free, extra - counts, -1.0)
    counts[np.argsort(-remainder, kind="stable")[:short]] += 1  # largest remainders first
    return counts + floor


def _rate_every_item(items: np.ndarray, num_items: int, rng: np.random.Generator) -> np.ndarray:
    """Give each never-chosen item one event, taken from a random event of a repeatedly rated item.

    MovieLens lists only items with at least one rating, so the presets' item counts are counts of
    rated items. Donor events are drawn uniformly among those whose item would keep at least one
    event, and each unrated item goes to exactly one event, so no user gets an item twice.
    Returns the new ``items`` [N].
    """
    counts = np.bincount(items, minlength=num_items)  # [I]
    unrated = np.flatnonzero(counts == 0)
    if len(unrated) == 0:
        return items
    shuffled = rng.permutation(len(items))  # [N] events in random order
    by_item = np.argsort(items[shuffled], kind="stable")  # [N] grouped by item, still random
    grouped = items[shuffled][by_item]
    group_start = np.searchsorted(grouped, grouped)  # [N] first position of the item's group
    spare = np.arange(len(items)) - group_start < counts[grouped] - 1  # all but one per item
    donors = shuffled[by_item][spare]  # [D] events that may change item
    if len(donors) < len(unrated):
        logger.warning("%d items stay unrated: too few events to share", len(unrated))
        return items
    items = items.copy()
    items[rng.choice(donors, size=len(unrated), replace=False)] = unrated
    return items


def _rowwise_dot(
    rows: np.ndarray, cols: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """``left[rows] · right[cols]`` in blocks, never materializing [N, k] at ml-20m scale.

    Shapes:
        rows, cols: [N]; left: [U, k]; right: [I, k]; output: [N] float32.
    """
    out = np.empty(len(rows), dtype=np.float32)
    for begin in range(0, len(rows), CHUNK_CELLS):
        end = begin + CHUNK_CELLS
        a = left[rows[begin:end]][:, None, :]  # [block, 1, k]
        b = right[cols[begin:end]][:, :, None]  # [block, k, 1]
        out[begin:end] = np.matmul(a, b)[:, 0, 0]  # [block]
    return out


def _drift_order(
    users: np.ndarray,
    items: np.ndarray,
    item_factors: np.ndarray,
    drift: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Permutation putting each user's items in the order of their drifting taste.

    The key is the item's position along the user's drift direction plus noise: consecutive items
    share the latent neighbourhood (mostly the same genres), which is the signal next-item models
    learn from.
    """
    key = _rowwise_dot(users, items, drift, item_factors).astype(np.float64)  # [N]
    key += rng.normal(0.0, ORDER_NOISE, len(key))
    # One float sort instead of a two-key lexsort: users + the key squashed into [0, 0.5].
    squashed = (key - key.min()) / (2.0 * (np.ptp(key) + 1e-12))  # [N]
    return np.argsort(users + squashed, kind="stable")


def _ratings(
    users: np.ndarray,
    items: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    popularity: np.ndarray,
    spec: Preset,
    rng: np.random.Generator,
) -> np.ndarray:
    """Rating values: a latent score cut at its quantiles into the preset's histogram.

    Shapes:
        users, items: [N]; output: [N] float32.
    """
    user_bias = rng.normal(0.0, USER_BIAS_STD, len(user_factors))  # [U]
    standard_pop = (popularity - popularity.mean()) / max(popularity.std(), 1e-12)
    item_bias = ITEM_POPULARITY_BIAS * standard_pop + rng.normal(
        0.0, ITEM_BIAS_STD, len(popularity)
    )  # [I]
    latent = RATING_AFFINITY * _rowwise_dot(users, items, user_factors, item_factors)  # [N]
    latent += (user_bias[users] + item_bias[items]).astype(np.float32)
    latent += rng.normal(0.0, RATING_NOISE, len(latent)).astype(np.float32)
    cuts = np.quantile(latent, np.cumsum(spec.rating_shares)[:-1])  # [V - 1]
    return np.asarray(spec.rating_values, dtype=np.float32)[np.searchsorted(cuts, latent)]


def _timestamps(
    users: np.ndarray, activity: np.ndarray, start: int, end: int, rng: np.random.Generator
) -> np.ndarray:
    """Unix seconds of every event, ascending within each user (events grouped by user).

    Shapes:
        users: [N] sorted; activity: [U] with ``activity[u]`` events of user ``u``; output [N].
    """
    num_users, num_events = len(activity), len(users)
    first = np.zeros(num_events, dtype=bool)
    first[np.concatenate([[0], np.cumsum(activity)[:-1]])] = True  # each user's first event
    new_session = first | (rng.random(num_events) < SESSION_BREAK)  # [N]
    session = np.cumsum(new_session) - 1  # [N] global session id
    session_user = users[new_session]  # [S]

    active = rng.lognormal(np.log(ACTIVE_DAYS_MEDIAN), ACTIVE_DAYS_SIGMA, num_users)
    active = np.minimum(active * SECONDS_PER_DAY, 0.9 * (end - start))  # [U] seconds
    # The whole active window lies in the span, so events spread evenly over the months.
    user_start = start + rng.random(num_users) * (end - start - active)  # [U]
    session_start = (
        user_start[session_user] + rng.random(len(session_user)) * active[session_user]
    )  # [S]
    session_start[first[new_session]] = user_start[session_user[first[new_session]]]

    gap = np.where(
        rng.random(num_events) < ZERO_GAP_SHARE, 0.0, rng.exponential(MEAN_GAP_SECONDS, num_events)
    )  # [N]
    gap[new_session] = 0.0
    elapsed = np.cumsum(gap)  # [N]
    offset = elapsed - elapsed[new_session][session]  # [N] seconds since the session began
    times = np.minimum(np.round(session_start[session] + offset), end).astype(np.int64)  # [N]
    # Sessions may overlap; sorting the times within each user keeps consumption order intact.
    # One integer sort instead of a two-key lexsort: times since `start` fit in 32 bits.
    packed = np.sort((users.astype(np.int64) << 32) + (times - start))  # [N]
    return (packed & 0xFFFFFFFF) + start


def _user_metadata(num_users: int, rng: np.random.Generator) -> pd.DataFrame:
    """Age, gender and occupation with ml-100k's marginals (independent of the ratings)."""
    ages = np.clip(np.round(rng.normal(34.0, 12.0, num_users)), 7, 73).astype(np.int64)
    gender = np.where(rng.random(num_users) < MALE_SHARE, "M", "F")
    occupation = rng.choice(
        np.array(OCCUPATIONS, dtype=object),
        size=num_users,
        p=OCCUPATION_COUNTS / OCCUPATION_COUNTS.sum(),
    )
    return pd.DataFrame({"age": ages, "gender": gender, "occupation": occupation})
