"""The detector contract shared by every anomaly detector (PyGOD-like, sklearn-like).

``fit(ratings, y=None, types=None) -> self``; ``decision_function(ratings) -> [num_users]``
(higher = more anomalous); ``predict(ratings) -> [num_users]`` 0/1 against ``threshold_``;
fitted state ends in ``_``: ``threshold_``, ``decision_score_`` (scores of the fitting accounts),
``labels_`` (their 0/1 predictions). How each detector picks its threshold is in its docstring.

Labels are a per-account vector aligned with the contiguous user ids of the ratings, NaN (or
absent) for unknown; a detector sees nothing but what ``y`` holds, so evaluation accounts stay
unseen simply by leaving them NaN. Labels are also remembered by *raw* user id, so a fitted
detector applied to another ratings file (``graphrec anomaly predict``) finds the labeled
accounts it contains by their ids.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pandas as pd

from graphrec.anomaly.detectors.inputs import InputOptions, detector_inputs
from graphrec.anomaly.labels import NORMAL
from graphrec.data.ratings import Ratings
from graphrec.errors import DataError

log = logging.getLogger(__name__)

LabelsLike = pd.Series | np.ndarray | Sequence[float] | None

DEFAULT_CONTAMINATION = 0.07
"""Share of anomalous accounts assumed when nothing says otherwise (the competition's step 1 had
6.6 %); detectors that can estimate it from labels do (``SemiSupervisedDetector.prevalence_``)."""


class Detector(ABC):
    """Base class: label handling, inputs, ``predict`` against ``threshold_``.

    Args:
        contamination: expected share of anomalous accounts, in (0, 0.5]; used by detectors
            whose threshold is a percentile (default 0.07, the competition's step 1 had 6.6 %).
        inputs: how detector inputs are built (:class:`InputOptions`).
        seed: seed of every random choice (forests, folds, the encoder).
    """

    name = "detector"

    def __init__(
        self,
        *,
        contamination: float = DEFAULT_CONTAMINATION,
        inputs: InputOptions | None = None,
        seed: int = 0,
    ) -> None:
        if not 0.0 < contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {contamination}")
        self.contamination = contamination
        self.inputs = inputs or InputOptions(seed=seed)
        self.seed = seed
        self.threshold_: float | None = None
        self.decision_score_: np.ndarray | None = None
        self.labels_: np.ndarray | None = None
        self.known_labels_: dict[str, int] = {}
        self.known_types_: dict[str, str] = {}
        self.columns_: list[str] = []
        self.with_time_: bool | None = None

    # ------------------------------------------------------------------ public contract
    def fit(self, ratings: Ratings, y: LabelsLike = None, types: LabelsLike = None) -> Detector:
        """Fit on every account of ``ratings`` with the labels ``y`` knows (NaN = unknown).

        Args:
            ratings: the events of all accounts.
            y: [num_users] 0/1 labels by contiguous user id, NaN for unknown; None = none known.
            types: optional [num_users] anomaly type of the labeled accounts (``normal`` for 0).

        Returns:
            self, with ``threshold_``, ``decision_score_`` and ``labels_`` set.
        """
        labels = as_labels(y, ratings.num_users)
        kinds = as_types(types, labels, ratings.num_users)
        known = ~np.isnan(labels)
        ids = ratings.user_ids.astype(str)
        self.known_labels_ = {ids[u]: int(labels[u]) for u in np.flatnonzero(known)}
        self.known_types_ = {ids[u]: str(kinds[u]) for u in np.flatnonzero(known)}
        self.with_time_ = (
            ratings.has_timestamps if self.inputs.use_time is None else (self.inputs.use_time)
        )
        features = self._features(ratings)
        self.columns_ = list(features.columns)
        scores = self._fit(ratings, features, labels, kinds)
        if scores.shape != (ratings.num_users,) or not np.isfinite(scores).all():
            raise RuntimeError(f"{type(self).__name__} produced invalid training scores")
        self.decision_score_ = scores
        if self.threshold_ is None:
            self.threshold_ = percentile_threshold(scores, self.contamination)
        self.labels_ = (scores >= self.threshold_).astype(np.int64)
        log.info(
            "%s fitted on %d accounts (%d labeled, %d anomalous): threshold %.4f flags %d",
            self.name,
            ratings.num_users,
            int(known.sum()),
            int(np.nansum(labels)),
            self.threshold_,
            int(self.labels_.sum()),
        )
        return self

    def decision_function(self, ratings: Ratings, y: LabelsLike = None) -> np.ndarray:
        """Anomaly scores of every account of ``ratings``; higher = more anomalous.

        Args:
            ratings: any ratings (the fitted ones or another file).
            y: labels known on ``ratings`` (as in :meth:`fit`), used by the label-aware inputs;
                None = the labels remembered at fit, matched by raw user id. Pass them for data
                whose ids name other accounts (e.g. a fresh task re-using numeric ids).

        Shapes:
            -> [ratings.num_users] float64.
        """
        self._check_fitted()
        features = self._features(ratings)
        missing = [c for c in self.columns_ if c not in features.columns]
        if missing:
            raise DataError(
                f"{ratings.name}: inputs lack {missing} the detector was fitted with "
                "(fitted with timestamps, predicting without?)"
            )
        labels = self._labels_for(ratings) if y is None else as_labels(y, ratings.num_users)
        scores = self._score(ratings, features[self.columns_], labels)
        if not np.isfinite(scores).all():
            raise RuntimeError(f"{type(self).__name__} produced NaN or infinite scores")
        return scores

    def predict(self, ratings: Ratings, y: LabelsLike = None) -> np.ndarray:
        """0/1 per account: ``decision_function >= threshold_``. Shapes: -> [num_users] int64."""
        self._check_fitted()
        return (self.decision_function(ratings, y) >= self.threshold_).astype(np.int64)

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _fit(
        self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray, types: np.ndarray
    ) -> np.ndarray:
        """Fit and return the training scores [num_users]; may set ``threshold_``."""

    @abstractmethod
    def _score(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """Scores [num_users] of any ratings; ``y`` = the remembered labels mapped onto them."""

    def describe(self) -> str:
        """One line: what the detector is and how it thresholds (for the CLI)."""
        return f"{self.name} (threshold {self.threshold_})"

    # ------------------------------------------------------------------ helpers
    def _features(self, ratings: Ratings) -> pd.DataFrame:
        if self.with_time_ and not ratings.has_timestamps:
            raise DataError(
                f"{ratings.name} has no timestamps but the detector was fitted with time features "
                "(refit with --no-time)"
            )
        options = self.inputs
        if self.with_time_ is not None and options.use_time is None:
            options = _replace(options, use_time=bool(self.with_time_))
        return detector_inputs(ratings, options)

    def _labels_for(self, ratings: Ratings) -> np.ndarray:
        """The labels remembered at fit, by raw id, on the accounts of ``ratings`` (NaN else)."""
        labels = np.full(ratings.num_users, np.nan)
        if self.known_labels_:
            ids = pd.Series(ratings.user_ids.astype(str))
            labels[:] = ids.map(self.known_labels_).to_numpy(np.float64)
        return labels

    def _check_fitted(self) -> None:
        if self.threshold_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(contamination={self.contamination}, seed={self.seed}, "
            f"fitted={self.threshold_ is not None})"
        )


def _replace(options: InputOptions, **changes: object) -> InputOptions:
    from dataclasses import replace

    return replace(options, **changes)


def as_labels(y: LabelsLike, num_users: int) -> np.ndarray:
    """Labels as a float [num_users] array: 0, 1 or NaN.

    A Series is aligned on its index (contiguous user ids; missing ids = unknown); an array must
    have ``num_users`` entries.

    Raises:
        ValueError: a wrong length, an index outside the ids, or a value other than 0, 1, NaN.
    """
    if y is None:
        return np.full(num_users, np.nan)
    if isinstance(y, pd.Series):
        index = np.asarray(y.index)
        if len(index) and (index.min() < 0 or index.max() >= num_users):
            raise ValueError(f"label index outside the user ids 0..{num_users - 1}")
        out = np.full(num_users, np.nan)
        out[index.astype(np.int64)] = pd.to_numeric(y, errors="coerce").to_numpy(np.float64)
        bad_text = y.notna().to_numpy() & np.isnan(out[index.astype(np.int64)])
        if bad_text.any():
            raise ValueError(f"labels must be 0 or 1, got {y[bad_text].iloc[0]!r}")
    else:
        out = np.asarray(y, dtype=np.float64)
        if out.shape != (num_users,):
            raise ValueError(f"labels must have shape ({num_users},), got {out.shape}")
        out = out.copy()
    bad = ~np.isnan(out) & ~np.isin(out, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"labels must be 0 or 1 (NaN = unknown), got {out[bad][0]}")
    return out


def as_types(types: LabelsLike, labels: np.ndarray, num_users: int) -> np.ndarray:
    """Types as an object [num_users] array: ``normal`` for label 0, ``anomalous`` for a label 1
    without a given type, ``""`` for unlabeled accounts."""
    out = np.full(num_users, "", dtype=object)
    known = ~np.isnan(labels)
    out[known & (labels == 0)] = NORMAL
    out[known & (labels == 1)] = "anomalous"
    if types is None:
        return out
    if isinstance(types, pd.Series):
        given = np.full(num_users, None, dtype=object)
        given[np.asarray(types.index).astype(np.int64)] = types.to_numpy(dtype=object)
    else:
        given = np.asarray(types, dtype=object)
        if given.shape != (num_users,):
            raise ValueError(f"types must have shape ({num_users},), got {given.shape}")
    usable = known & (labels == 1) & pd.notna(given) & (given != "") & (given != NORMAL)
    out[usable] = given[usable].astype(str)
    return out


def percentile_threshold(scores: np.ndarray, contamination: float) -> float:
    """The score at the (1 − contamination) percentile (PyGOD's rule): about
    ``contamination × N`` accounts score at or above it."""
    return float(np.percentile(scores, 100.0 * (1.0 - contamination)))


def rank_scale(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each value's empirical CDF within ``reference`` (share of reference values <= it), in
    [0, 1]: puts scores of different detectors on one scale before they are combined."""
    ordered = np.sort(np.asarray(reference, dtype=np.float64))
    return np.searchsorted(ordered, values, side="right") / max(len(ordered), 1)
