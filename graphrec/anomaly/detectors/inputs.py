"""What every detector sees: one row of numbers per account, built from the rating graph alone.

Three families of columns, all computed without any label:

* the behavioural features of :mod:`graphrec.anomaly.features` (classic shilling statistics,
  entropy, repeats, popularity; time features when timestamps exist);
* relational and sequence features this module adds, each aimed at a behaviour the classic ones
  miss on plausible injections (measured on ML-100K, see the report of the anomaly task):

  - ``agree_contain`` — the largest share of the account's ratings that another single account
    gave *identically* (same item, same value). A copied profile (sampling / power-user attack,
    Burke et al. 2005) is almost wholly contained in its source; genuine pairs agree on a third of
    their overlap by chance. ``overlap_contain`` is the same without the value, ``agree_ratio``
    the identical share of an overlap of at least ``min_overlap`` items, ``nn_cos`` the cosine to
    the single nearest account (DegSim with k = 1).
  - ``incoherence`` — the leave-one-out error of a per-account ridge regression of the account's
    rating deviations (r_ui − r̄_i) on item factors, divided by that of the account mean alone.
    A person's deviations follow a taste (the factors predict them: ratio < 1); filler ratings
    drawn item by item from the item's own distribution (average / AoP attacks, cover activity,
    bursts) follow none (ratio ≥ 1, the LOO penalty of fitting noise), and a shared account mixes
    several tastes. ``late_incoherence`` and ``late_shift`` compare the last
    :data:`LATE_SHARE` of an account's events (in time order) with the earlier ones: a hijacked
    account changes behaviour late in its history.
  - ``coherence``, ``consecutive``, ``consecutive_excess`` — how alike an account's items are,
    overall and from one event to the next (:func:`profile_features`): people rate in sessions of
    related items; injected profiles list fillers in arbitrary order, shared accounts mix tastes.
  - ``periodic`` — the largest share of ratings equal to the rating ``k`` events earlier
    (k = 1..4): 1 for a bot cycling a fixed pattern.
  - ``same_value_window`` (time only) — the most other accounts that gave one of this account's
    items the same value within ± ``window_seconds``: the lockstep of review bombing (CopyCatch,
    Beutel et al., WWW 2013, in its simplest form).
  - ``group_score``, ``target_llr`` (:func:`campaign_features`) — what
    :mod:`graphrec.anomaly.groups` finds: membership in a detected push / nuke group (lockstep
    windows with time, FRAUDAR dense blocks without), and the suspicion of the most suspicious
    item the account rated at an extreme. Every campaign type — shilling, bombing, hijacked
    accounts, copies — rates a target, so a supervised model that learns these columns on step-1
    campaigns carries them to step 2's unseen ones (ML-100K step 2, six cells: review-bombing
    recall 0.67 → 0.78–1.0 with time).

  Without timestamps the events' order (the file's row order, as :class:`Ratings` keeps it) stands
  in for time in the sequence features.
* the GNN encoder's embeddings (:mod:`graphrec.anomaly.embeddings`, LightGCN + BPR), entered
  through rotation-invariant statistics — norm, cosine to the mean account, mean cosine to the
  ten nearest accounts, and the correlation between an account's ratings and its own predicted
  preference scores. Raw coordinates are left out on purpose: two trainings of the encoder (fit
  on one file, predict on another) give arbitrarily rotated bases, so a classifier trained on
  coordinates would not transfer; the statistics do. The item embeddings also serve as the item
  factors of ``incoherence``.

Account sharing (2-3 real users merged) has no column of its own because none separated it. On
ML-100K with sharing at 5 % of the users (seeds 0-1), ROC-AUC of merged against normal accounts
after subtracting the median of accounts of similar length: 2-means gain on the account's item
embeddings 0.58, top principal component share 0.54, rating gap between the two clusters 0.46, a
second neighbour covering what the nearest one lacks 0.50-0.60, a later session larger than the
first 0.52-0.64, a later popularity bump (a second sign-up) 0.48-0.61; events earlier than the
item's other raters 0.57-0.67 without the length correction. A forest on all the columns above
reaches PR-AUC 0.24-0.40 there: a merged pair of real users looks like one heavy user.

Finally one round of neighbourhood aggregation over the user–item–user graph
(:func:`neighbour_mean`): each column's mean over the account's co-raters, prefixed ``nb_`` —
the feature half of a mean-aggregation GNN layer (GraphSAGE-mean, Hamilton et al. 2017), so a
fake whose co-raters are other fakes (a shared target) looks different from a genuine user's.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from graphrec.anomaly.embeddings import fingerprint, train_embeddings
from graphrec.anomaly.features import behavioural_features
from graphrec.anomaly.groups import GroupConfig, detect_groups, item_excess
from graphrec.anomaly.labels import NUKE, PUSH
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

HOUR = 3600
LATE_SHARE = 0.3
"""Share of an account's most recent events compared with the rest (hijacking is late)."""

DEGSIM_K = 10
"""Neighbours of the behavioural DegSim column (:func:`graphrec.anomaly.features.degsim`)."""

_CACHE: dict[str, pd.DataFrame] = {}
_CACHE_SIZE = 8
_EVENTS: dict[str, _Events] = {}
_EVENTS_SIZE = 2


@dataclass(frozen=True)
class InputOptions:
    """How detector inputs are built (stored with a fitted detector, reused at predict time).

    Attributes:
        use_time: None = time features when the data has timestamps; False = never.
        embedding_dim: encoder embedding size (0 = no embedding columns, e.g. for speed).
        embedding_epochs: full-graph BPR epochs of the encoder.
        embedding_layers: LightGCN layers.
        ridge: L2 weight of the per-account taste regression (item factors have unit mean
            square norm, so this is in units of "events").
        min_overlap: smallest overlap for ``agree_ratio``.
        window_seconds: half-width of the lockstep window of ``same_value_window``.
        aggregate: add the ``nb_`` neighbour means.
        seed: seed of the encoder training.
    """

    use_time: bool | None = None
    embedding_dim: int = 32
    embedding_epochs: int = 20
    embedding_layers: int = 2
    ridge: float = 5.0
    min_overlap: int = 10
    window_seconds: int = 6 * HOUR
    aggregate: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.embedding_dim < 0 or self.embedding_epochs < 0:
            raise ValueError(
                f"embedding_dim and embedding_epochs must be >= 0, got "
                f"{self.embedding_dim}, {self.embedding_epochs}"
            )
        if self.ridge <= 0:
            raise ValueError(f"ridge must be > 0, got {self.ridge}")
        if self.window_seconds < 1 or self.min_overlap < 1:
            raise ValueError(
                f"window_seconds and min_overlap must be >= 1, got "
                f"{self.window_seconds}, {self.min_overlap}"
            )


@dataclass
class _Events:
    """Distinct (user, item) pairs (repeats averaged) plus the full event order, as arrays."""

    num_users: int
    num_items: int
    user: np.ndarray  # [P] pairs sorted by user, then first-event order
    item: np.ndarray  # [P]
    rating: np.ndarray  # [P] mean rating of the pair
    ptr: np.ndarray  # [U + 1] CSR pointer of the pairs by user
    seq_user: np.ndarray  # [E] every event, sorted by (user, time)
    seq_rating: np.ndarray  # [E]

    @classmethod
    def from_ratings(cls, ratings: Ratings) -> _Events:
        ev = ratings.events
        user = ev["user"].to_numpy(np.int64)
        item = ev["item"].to_numpy(np.int64)
        rating = ev["rating"].to_numpy(np.float64)
        time = ev["timestamp"].to_numpy(np.int64)
        order = np.lexsort((np.arange(len(user)), time, user))  # by user, time, row
        su, si, sr = user[order], item[order], rating[order]
        code = su * ratings.num_items + si
        _, first, inverse, counts = np.unique(
            code, return_index=True, return_inverse=True, return_counts=True
        )
        mean = np.bincount(inverse, weights=sr) / counts
        by_first = np.argsort(first, kind="stable")  # distinct pairs in (user, time) order
        pu, pi = su[first][by_first], si[first][by_first]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(pu, minlength=ratings.num_users))])
        return cls(
            num_users=ratings.num_users,
            num_items=ratings.num_items,
            user=pu,
            item=pi,
            rating=mean[by_first],
            ptr=ptr,
            seq_user=su,
            seq_rating=sr,
        )

    @property
    def length(self) -> np.ndarray:
        return np.diff(self.ptr).astype(np.float64)  # [U] distinct items per user

    def matrix(self, values: np.ndarray | None = None) -> sp.csr_matrix:
        data = np.ones(len(self.user)) if values is None else values
        return sp.csr_matrix((data, (self.user, self.item)), shape=(self.num_users, self.num_items))


def _events_of(ratings: Ratings) -> _Events:
    """:meth:`_Events.from_ratings`, cached: a detector's fit asks for the same events once per
    cross-validation fold and pseudo-label round (seconds on a million events)."""
    key = fingerprint(ratings)
    if key not in _EVENTS:
        if len(_EVENTS) >= _EVENTS_SIZE:
            _EVENTS.pop(next(iter(_EVENTS)))
        _EVENTS[key] = _Events.from_ratings(ratings)
    return _EVENTS[key]


def detector_inputs(ratings: Ratings, options: InputOptions | None = None) -> pd.DataFrame:
    """The detector input table of ``ratings`` (cached per events and options).

    Returns:
        DataFrame indexed by contiguous user id (``user``), float64 columns as the module
        docstring lists; accounts without events are all zeros.
    """
    options = options or InputOptions()
    if options.use_time and not ratings.has_timestamps:
        raise ValueError(f"use_time=True but {ratings.name} has no timestamps")
    with_time = ratings.has_timestamps if options.use_time is None else options.use_time
    resolved = replace(options, use_time=bool(with_time))
    key = fingerprint(ratings, tuple(sorted(asdict(resolved).items())))
    if key in _CACHE:
        return _CACHE[key].copy()
    base = behavioural_features(ratings, use_time=with_time, degsim_k=0)
    events = _events_of(ratings)
    extra = similarity_features(events, min_overlap=options.min_overlap, degsim_k=DEGSIM_K)
    # DegSim comes from the same similarity blocks; its column keeps its behavioural place
    base.insert(base.columns.get_loc("repeat_share") + 1, "degsim", extra.pop("degsim"))
    extra.update(sequence_features(events))
    if with_time:
        extra["same_value_window"] = same_value_window(ratings, options.window_seconds)
    extra.update(campaign_features(ratings, events, with_time))
    if options.embedding_dim > 0:
        emb = train_embeddings(
            ratings,
            embedding_dim=options.embedding_dim,
            num_layers=options.embedding_layers,
            epochs=options.embedding_epochs,
            seed=options.seed,
        )
        extra.update(embedding_features(events, emb.user, emb.item))
        factors = emb.item
    else:
        factors = svd_item_factors(events, dim=16)
    extra.update(taste_features(events, factors, ridge=options.ridge))
    extra.update(profile_features(events, factors))
    frame = pd.concat([base, pd.DataFrame(extra, index=base.index)], axis=1).astype(np.float64)
    if options.aggregate:
        standard = (frame - frame.mean()) / frame.std(ddof=0).replace(0.0, 1.0)
        nb = neighbour_mean(events, standard.to_numpy())
        frame = pd.concat(
            [frame, pd.DataFrame(nb, index=frame.index, columns="nb_" + frame.columns)], axis=1
        )
    frame.loc[events.length == 0] = 0.0
    frame = frame.fillna(0.0)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = frame
    return frame.copy()


# ------------------------------------------------------------------------------- relational
def similarity_features(
    events: _Events, *, min_overlap: int = 10, degsim_k: int = 10, block_cells: int = 5_000_000
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


def campaign_features(ratings: Ratings, events: _Events, with_time: bool) -> dict[str, np.ndarray]:
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
def sequence_features(events: _Events) -> dict[str, np.ndarray]:
    """``periodic`` and ``late_rating_shift`` from each account's events in time order."""
    user, rating = events.seq_user, events.seq_rating
    num_users = events.num_users
    periodic = np.zeros(num_users)
    for lag in range(1, 5):
        same_user = user[lag:] == user[:-lag]
        equal = (rating[lag:] == rating[:-lag]) & same_user
        owner = user[lag:][same_user]
        hits = np.bincount(owner, weights=equal[same_user], minlength=num_users)
        total = np.bincount(owner, minlength=num_users)
        share = np.divide(hits, total, out=np.zeros(num_users), where=total >= 4)
        periodic = np.maximum(periodic, share)
    late = _late_mask(user, num_users)
    late_mean = _masked_mean(user, rating, late, num_users)
    early_mean = _masked_mean(user, rating, ~late, num_users)
    return {"periodic": periodic, "late_rating_shift": late_mean - early_mean}


def _late_mask(user_sorted: np.ndarray, num_users: int) -> np.ndarray:
    """True for the last :data:`LATE_SHARE` of each user's events (arrays sorted by user, time)."""
    counts = np.bincount(user_sorted, minlength=num_users)
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    position = np.arange(len(user_sorted)) - starts[user_sorted]
    return position >= np.ceil((1 - LATE_SHARE) * counts[user_sorted])


def _masked_mean(
    user: np.ndarray, values: np.ndarray, mask: np.ndarray, num_users: int
) -> np.ndarray:
    total = np.bincount(user[mask], weights=values[mask], minlength=num_users)
    count = np.bincount(user[mask], minlength=num_users)
    return np.divide(total, count, out=np.zeros(num_users), where=count > 0)


# ------------------------------------------------------------------------------------- taste
def svd_item_factors(events: _Events, dim: int = 16) -> np.ndarray:
    """Item factors from a truncated SVD of the deviation matrix (used without embeddings)."""
    from scipy.sparse.linalg import svds

    count = np.bincount(events.item, minlength=events.num_items).astype(np.float64)
    mean = np.divide(
        np.bincount(events.item, weights=events.rating, minlength=events.num_items),
        count,
        out=np.zeros(events.num_items),
        where=count > 0,
    )
    dev = events.matrix(events.rating - mean[events.item])
    k = max(1, min(dim, min(dev.shape) - 1))
    _, s, vt = svds(dev, k=k, random_state=0)
    return (vt.T * np.sqrt(s)).astype(np.float64)  # [I, k]


def taste_features(
    events: _Events, factors: np.ndarray, *, ridge: float = 5.0
) -> dict[str, np.ndarray]:
    """Leave-one-out taste regression per account (see ``incoherence`` in the module docstring).

    For account u with items X_u (factors, centred per account) and deviations y_u (centred),
    ridge weights w_u = (X_uᵀX_u + λI)⁻¹X_uᵀy_u; the LOO residual of event i is e_i / (1 − h_i),
    h_i = 1/n + x_iᵀ(X_uᵀX_u + λI)⁻¹x_i (the intercept's share included), in closed form.

    The per-account algebra runs in a loop over accounts on their contiguous event slices: each
    step is a few small BLAS products ([n, d] by [d, d]), so memory stays at one account's rows
    and the loop beat vectorised segment sums 15-60x (ML-1M scale: 6k accounts, 1M events,
    d = 32 — a [P, d, d] batch of outer products needed 8 GB).

    Returns:
        ``incoherence`` (LOO MSE ÷ LOO MSE of the mean-only model), ``late_incoherence`` (the
        same ratio, late events ÷ early events), ``late_shift`` (mean deviation of the late
        events − the early ones), each [num_users].
    """
    num_users = events.num_users
    user = events.user
    length = events.length
    count = np.bincount(events.item, minlength=events.num_items).astype(np.float64)
    item_mean = np.divide(
        np.bincount(events.item, weights=events.rating, minlength=events.num_items),
        count,
        out=np.zeros(events.num_items),
        where=count > 0,
    )
    scale = np.sqrt((factors**2).sum(axis=1).mean()) or 1.0
    q = factors / scale  # [I, d] unit mean square norm: ridge in units of events
    x = q[events.item]  # [P, d]
    y = events.rating - item_mean[events.item]  # [P]
    n = np.maximum(length, 1.0)
    x_mean = _segment_sum(user, x, num_users) / n[:, None]  # [U, d]
    y_mean = np.bincount(user, weights=y, minlength=num_users) / n  # [U]
    xc = x - x_mean[user]  # [P, d]
    yc = y - y_mean[user]  # [P]
    loo = _ridge_loo(xc, yc, events.ptr, ridge)  # [P]
    loo_mean_only = yc / np.maximum(1.0 - 1.0 / n[user], 1e-6)  # [P]
    mse = np.bincount(user, weights=loo**2, minlength=num_users)
    mse0 = np.bincount(user, weights=loo_mean_only**2, minlength=num_users)
    incoherence = np.divide(mse, mse0, out=np.ones(num_users), where=mse0 > 1e-9)

    late = _late_mask(user, num_users)
    late_err = _masked_mean(user, loo**2, late, num_users)
    early_err = _masked_mean(user, loo**2, ~late, num_users)
    return {
        "incoherence": incoherence,
        "late_incoherence": np.log1p(late_err) - np.log1p(early_err),
        "late_shift": _masked_mean(user, y, late, num_users)
        - _masked_mean(user, y, ~late, num_users),
    }


def _segment_sum(user: np.ndarray, values: np.ndarray, num_users: int) -> np.ndarray:
    """Per-user column sums of ``values`` [P, F] -> [U, F] (a sparse product, no [U, P] loop)."""
    rows = sp.csr_matrix(
        (np.ones(len(user)), (user, np.arange(len(user)))), shape=(num_users, len(user))
    )
    return np.asarray(rows @ values)


def _ridge_loo(xc: np.ndarray, yc: np.ndarray, ptr: np.ndarray, ridge: float) -> np.ndarray:
    """Leave-one-out residuals of a per-account ridge fit of ``yc`` on ``xc``.

    Shapes:
        xc [P, d], yc [P] centred per account, rows grouped by account as ``ptr`` [U + 1] says
        -> [P].
    """
    eye = ridge * np.eye(xc.shape[1])
    loo = np.zeros(len(yc))
    # one BLAS thread: products this small gain nothing from threads, and on a busy machine
    # OpenBLAS's spinning threads made this loop 15x slower (26 s against 1.7 s on ML-1M)
    with threadpool_limits(1, user_api="blas"):
        for start, stop in zip(ptr[:-1], ptr[1:], strict=True):
            if stop == start:
                continue
            xu, yu = xc[start:stop], yc[start:stop]  # [n, d], [n]
            inverse = np.linalg.inv(xu.T @ xu + eye)  # [d, d]
            residual = yu - xu @ (inverse @ (xu.T @ yu))  # [n]
            hat = 1.0 / (stop - start) + ((xu @ inverse) * xu).sum(axis=1)  # [n]
            loo[start:stop] = residual / np.maximum(1.0 - hat, 1e-6)
    return loo


def profile_features(events: _Events, item_vectors: np.ndarray) -> dict[str, np.ndarray]:
    """How alike the items of one account are, overall and from one event to the next.

    ``coherence`` is the mean pairwise cosine of the account's items (one person's items share
    a taste; a shared account is a union of several, Zhang et al., UAI 2012), computed as
    (‖Σv‖² − n) / (n(n − 1)) over unit item vectors. ``consecutive`` is the mean cosine of
    consecutive items in time order — people rate in sessions of related items, while injected
    profiles list their targets and fillers in arbitrary order — and ``consecutive_excess`` the
    difference of the two (interleaved shared histories switch taste between consecutive events).

    Shapes:
        item_vectors [I, d] -> each output [num_users].
    """
    num_users = events.num_users
    norm = np.linalg.norm(item_vectors, axis=1)
    unit = item_vectors / np.maximum(norm, 1e-12)[:, None]  # [I, d]
    x = unit[events.item]  # [P, d] pairs in (user, first-event time) order
    n = events.length
    total = (
        sp.csr_matrix(
            (np.ones(len(events.user)), (events.user, np.arange(len(events.user)))),
            shape=(num_users, len(events.user)),
        )
        @ x
    )  # [U, d]
    coherence = np.divide(
        (total**2).sum(axis=1) - n, n * (n - 1), out=np.zeros(num_users), where=n > 1
    )
    same = events.user[1:] == events.user[:-1]
    step_cos = (x[1:] * x[:-1]).sum(axis=1)  # [P - 1]
    consecutive = np.divide(
        np.bincount(events.user[1:][same], weights=step_cos[same], minlength=num_users),
        n - 1,
        out=np.zeros(num_users),
        where=n > 1,
    )
    return {
        "coherence": coherence,
        "consecutive": consecutive,
        "consecutive_excess": consecutive - coherence,
    }


# ---------------------------------------------------------------------------------- embedding
def embedding_features(
    events: _Events, user_emb: np.ndarray, item_emb: np.ndarray, k: int = 10
) -> dict[str, np.ndarray]:
    """Rotation-invariant statistics of the encoder's embeddings (module docstring)."""
    num_users = events.num_users
    norm = np.linalg.norm(user_emb, axis=1)  # [U]
    unit = user_emb / np.maximum(norm, 1e-12)[:, None]  # [U, d]
    centroid = unit.mean(axis=0)
    centroid = centroid / max(np.linalg.norm(centroid), 1e-12)
    knn = np.zeros(num_users)
    k = min(k, num_users - 1)
    step = max(1, 5_000_000 // max(num_users, 1))
    for start in range(0, num_users, step):
        stop = min(start + step, num_users)
        sims = unit[start:stop] @ unit.T  # [B, U]
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if k > 0:
            knn[start:stop] = -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)
    score = (user_emb[events.user] * item_emb[events.item]).sum(axis=1)  # [P] preference
    return {
        "emb_norm": norm,
        "emb_centroid_cos": unit @ centroid,
        "emb_knn_cos": knn,
        "emb_rating_corr": _per_user_corr(events.user, score, events.rating, num_users),
    }


def _per_user_corr(user: np.ndarray, a: np.ndarray, b: np.ndarray, num_users: int) -> np.ndarray:
    n = np.bincount(user, minlength=num_users).astype(np.float64)
    safe = np.maximum(n, 1.0)
    ma = np.bincount(user, weights=a, minlength=num_users) / safe
    mb = np.bincount(user, weights=b, minlength=num_users) / safe
    da, db = a - ma[user], b - mb[user]
    cov = np.bincount(user, weights=da * db, minlength=num_users)
    va = np.bincount(user, weights=da * da, minlength=num_users)
    vb = np.bincount(user, weights=db * db, minlength=num_users)
    denom = np.sqrt(va * vb)
    return np.divide(cov, denom, out=np.zeros(num_users), where=denom > 1e-12)


# ------------------------------------------------------------------------------- aggregation
def neighbour_mean(events: _Events, values: np.ndarray) -> np.ndarray:
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
    events: _Events, scores: np.ndarray, known: np.ndarray, prior: float = 2.0
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
    events = _events_of(ratings)
    known = ~np.isnan(labels)
    top, mean = group_neighbour_stats(events, np.nan_to_num(labels), known, prior=prior)
    return pd.DataFrame(
        {"label_group_max": top, "label_group_mean": mean},
        index=pd.RangeIndex(ratings.num_users, name="user"),
    )
