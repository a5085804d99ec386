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
    :data:`~graphrec.anomaly.detectors.taste.LATE_SHARE` of an account's events (in time order)
    with the earlier ones: a hijacked account changes behaviour late in its history.
  - ``consensus_deficit`` (:func:`~graphrec.anomaly.detectors.taste.consensus_features`) —
    how far the correlation between the account's ratings and the items' means by everyone
    else falls below the typical account's, in standard errors: people agree with the crowd a
    little on every item, so a long profile that does not (a bot cycling a pattern, random
    fillers) stands out.
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
  - ``corater_incoherence_*``, ``corater_centroid_*`` (:func:`corater_suspicion`) — how
    fake-like the accounts are that gave the account's items the same value (their
    ``incoherence`` and ``emb_centroid_cos``, as ranks), max and mean over its items. Needs no
    timestamp and no label: a campaign's fakes are each other's co-raters on the target.
    Measured without timestamps on ML-100K, leave one type out (15 types, 20 % labeled,
    seeds 0-2), as inputs of the semi-supervised detector's forest: PR-AUC 0.662 → 0.690,
    F1 0.623 → 0.647.

  Without timestamps the events' order is the file's row order, which may say nothing about
  time (files are often sorted by user and item): the columns that read the order
  (:data:`ORDER_COLUMNS`) are then left out unless ``use_order`` says the rows are in time order.
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

The columns are not normalised per profile length. The semi-supervised forest's false alarms are
eclectic genuine users, often short profiles, so each column's percentile among the 100 accounts
nearest in length was tried as well (dev harness, no timestamps, one type never labeled, seeds
0-4). Added to the columns, it moved F1 from 0.800 to 0.801 and lowered the never-labeled types'
recall from 0.739 to 0.723. Used instead of the columns, it gave 0.769.

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

from graphrec.anomaly.detectors.events import events_of
from graphrec.anomaly.detectors.neighbourhood import (
    corater_suspicion,
    label_features,
    neighbour_mean,
)
from graphrec.anomaly.detectors.relational import (
    campaign_features,
    same_value_window,
    similarity_features,
)
from graphrec.anomaly.detectors.taste import (
    consensus_features,
    embedding_features,
    profile_features,
    sequence_features,
    svd_item_factors,
    taste_features,
)
from graphrec.anomaly.embeddings import fingerprint, train_embeddings
from graphrec.anomaly.features import behavioural_features
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

HOUR = 3600
ORDER_COLUMNS = (
    "periodic",
    "late_rating_shift",
    "late_incoherence",
    "late_shift",
    "consecutive",
    "consecutive_excess",
)
"""Columns that read the order of an account's events (left out when the order is unknown)."""

__all__ = ["ORDER_COLUMNS", "InputOptions", "detector_inputs", "label_features"]

DEGSIM_K = 10
"""Neighbours of the behavioural DegSim column (:func:`graphrec.anomaly.features.degsim`)."""

_CACHE: dict[str, pd.DataFrame] = {}
_CACHE_SIZE = 8


@dataclass(frozen=True)
class InputOptions:
    """How detector inputs are built (stored with a fitted detector, reused at predict time).

    Attributes:
        use_time: None = time features when the data has timestamps; False = never.
        use_order: None = the :data:`ORDER_COLUMNS` when the data has timestamps; True = also
            without (the file's rows are in time order); False = never.
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
    use_order: bool | None = None
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
    with_order = ratings.has_timestamps if options.use_order is None else options.use_order
    resolved = replace(options, use_time=bool(with_time), use_order=bool(with_order))
    key = fingerprint(ratings, tuple(sorted(asdict(resolved).items())))
    if key in _CACHE:
        return _CACHE[key].copy()
    base = behavioural_features(ratings, use_time=with_time, degsim_k=0)
    events = events_of(ratings)
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
    extra.update(consensus_features(events))
    extra.update(profile_features(events, factors))
    signals = {"incoherence": extra["incoherence"]}
    if "emb_centroid_cos" in extra:
        signals["centroid"] = extra["emb_centroid_cos"]
    extra.update(corater_suspicion(events, signals))
    frame = pd.concat([base, pd.DataFrame(extra, index=base.index)], axis=1).astype(np.float64)
    if not with_order:
        frame = frame.drop(columns=list(ORDER_COLUMNS))
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
