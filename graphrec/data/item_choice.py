"""Step 4 of the synthetic generator (:mod:`graphrec.data.synthetic`): which items each user
rates.

Each user's ``n_u`` distinct items are a Gumbel-top-k draw from ``softmax(log w_i + β p_u·q_i)``
(Kool, van Hoof & Welling, ICML 2019), approximated by sampling–importance–resampling because a
dense users × items score matrix is out of reach at ml-20m: ``3 n_u`` candidates drawn from the
popularity weights (alias method), scored by taste plus Gumbel noise, deduplicated keeping each
item's best copy; pools short of distinct items are redrawn wider, and past 4× the catalogue
replaced by the exact dense draw.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

AFFINITY_SCALE = 3.0  # β: how strongly taste beats popularity inside the candidate pool
CANDIDATE_RATIO = 3.0  # candidate pool ≈ this many distinct items per chosen item
MAX_POOL_FACTOR = 4  # pools wider than this × the catalogue give way to the dense exact draw
CHUNK_CELLS = 2_000_000  # users × candidates scored at once (memory ≈ LATENT_DIM × 4 B × this)


def choose_items(
    activity: np.ndarray,
    popularity: np.ndarray,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's distinct items by sampling–importance–resampling Gumbel-top-k.

    Returns:
        users and items of all events, [sum(activity)] int64 each, grouped by user.
    """
    num_users = len(activity)
    alias = _AliasSampler(np.exp(popularity - popularity.max()))
    by_activity = np.argsort(activity, kind="stable")  # chunks of similar pool size
    pool = np.ceil(CANDIDATE_RATIO * activity).astype(np.int64)
    # Chunk boundaries: consecutive users (by activity) while rows x widest pool <= CHUNK_CELLS.
    bounds = [0]
    while bounds[-1] < num_users:
        begin = bounds[-1]
        rows = np.arange(1, num_users - begin + 1)  # candidate chunk sizes
        fits = rows * pool[by_activity[begin:]] <= CHUNK_CELLS  # pool is ascending along here
        bounds.append(begin + max(1, int(np.count_nonzero(fits))))
    out_users, out_items = [], []
    chunks = zip(bounds[:-1], bounds[1:], strict=True)
    # A bar only where it matters: ml-20m scale takes tens of seconds, ml-100k a fraction of one.
    quiet = len(bounds) < 20 or not logging.getLogger(__name__).isEnabledFor(logging.INFO)
    for begin, end in tqdm(chunks, total=len(bounds) - 1, desc="users", disable=quiet):
        chunk = by_activity[begin:end]
        items = _choose_chunk(
            chunk, activity, pool, popularity, alias, user_factors, item_factors, rng
        )
        out_users.append(np.repeat(chunk, activity[chunk]))
        out_items.append(items)
    users = np.concatenate(out_users)
    items = np.concatenate(out_items)
    order = np.argsort(users, kind="stable")
    return users[order], items[order]


class _AliasSampler:
    """Walker's alias method: O(1) draws from a fixed discrete distribution.

    Binary search (``np.searchsorted`` on the cumulative weights) costs a cache miss per step on
    tens of millions of draws; the alias table costs two lookups (Vose, "A Linear Algorithm for
    Generating Random Numbers with a Given Distribution", IEEE TSE 17(9), 1991).
    """

    def __init__(self, weights: np.ndarray) -> None:
        n = len(weights)
        scaled = weights * (n / weights.sum())  # [n], mean 1
        self.accept = np.ones(n)
        self.alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            low, high = small.pop(), large.pop()
            self.accept[low] = scaled[low]
            self.alias[low] = high
            scaled[high] -= 1.0 - scaled[low]
            (small if scaled[high] < 1.0 else large).append(high)

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        column = rng.integers(0, len(self.accept), size=shape)
        keep = rng.random(shape) < self.accept[column]
        return np.where(keep, column, self.alias[column])


def _choose_chunk(
    chunk: np.ndarray,
    activity: np.ndarray,
    pool: np.ndarray,
    popularity: np.ndarray,
    alias: _AliasSampler,
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Items of one chunk of users, concatenated in the chunk's user order.

    Rows whose pool holds too few distinct items draw again with a pool twice as wide; past
    ``MAX_POOL_FACTOR`` times the catalogue (heavy users of a steep popularity curve) they fall
    back to the exact dense Gumbel-top-k over the whole catalogue.
    """
    need = activity[chunk]  # [B]
    width = int(pool[chunk].max())
    num_items = len(popularity)
    offsets = np.concatenate([[0], np.cumsum(need)[:-1]])  # [B] where each row's items go
    chosen = np.empty(int(need.sum()), dtype=np.int64)
    todo = np.arange(len(chunk))
    while len(todo) and width <= MAX_POOL_FACTOR * num_items:
        cand = alias.draw(rng, (len(todo), width))  # [B, C]
        taste = user_factors[chunk[todo]][:, :, None]  # [B, k, 1]
        affinity = np.matmul(item_factors[cand], taste)[..., 0]  # [B, C]
        score = AFFINITY_SCALE * affinity + rng.gumbel(size=cand.shape)  # [B, C]
        ranked = np.take_along_axis(cand, np.argsort(-score, axis=1), axis=1)  # [B, C] best first
        # An item drawn m times keeps its best copy: the max of m Gumbels is a Gumbel shifted by
        # log m, which restores the popularity weight that deduplication would otherwise flatten.
        keep = ~_later_copies(ranked)  # [B, C]
        enough = keep.sum(axis=1) >= need[todo]  # [B] enough distinct items
        take = keep & (np.cumsum(keep, axis=1) <= need[todo][:, None])  # [B, C]
        done = todo[enough]
        chosen[_segment_positions(offsets[done], need[done])] = ranked[enough][take[enough]]
        todo = todo[~enough]
        width *= 2
    if len(todo):
        rows = chunk[todo]
        score = popularity + AFFINITY_SCALE * (user_factors[rows] @ item_factors.T)  # [B, I]
        score += rng.gumbel(size=score.shape)
        best = np.argsort(-score, axis=1)  # [B, I]
        take = np.arange(num_items) < need[todo][:, None]  # [B, I]
        chosen[_segment_positions(offsets[todo], need[todo])] = best[take]
    return chosen


def _later_copies(ranked: np.ndarray) -> np.ndarray:
    """Mask of entries whose item already appears earlier in the same row.

    One integer sort of ``item * C + position`` groups each row's copies with the earliest first,
    cheaper than a two-key lexsort.

    Shapes:
        ranked: [B, C] item ids; output: [B, C] bool.
    """
    width = ranked.shape[1]
    key = np.sort(ranked * width + np.arange(width), axis=1)  # [B, C]
    item, position = np.divmod(key, width)
    later = np.zeros(ranked.shape, dtype=bool)
    later[:, 1:] = item[:, 1:] == item[:, :-1]  # same item as the previous (better) copy
    out = np.zeros(ranked.shape, dtype=bool)
    np.put_along_axis(out, position, later, axis=1)
    return out


def _segment_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``range(start, start + length)`` for each pair, without a Python loop."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths  # [R] where each segment begins in the output
    return np.repeat(starts - first, lengths) + np.arange(total)
