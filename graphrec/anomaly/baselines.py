"""Classic shilling-detection baselines behind the detectors' API, for benchmarks and sanity checks.

Every baseline follows the PyGOD-like contract of :mod:`graphrec.anomaly.detectors`:
``fit(ratings, y=None)`` learns from one :class:`Ratings` (transductively: the accounts to score
are in it), ``decision_function(ratings)`` gives one score per account (higher = more anomalous),
``predict(ratings)`` compares the scores with ``threshold_`` (score >= threshold is flagged), and
``decision_score_`` / ``labels_`` keep the scores and flags of the fitted data.

``y`` is one entry per contiguous user id: 1 anomalous, 0 normal, and -1 or NaN for unlabeled
accounts (a :class:`pandas.Series` is aligned on its index, missing users unlabeled). Unsupervised
baselines ignore it; ``types`` (the detectors' optional per-account anomaly types) is accepted and
ignored by all of them.

The baselines, all on the classic per-user features of
:func:`graphrec.anomaly.features.behavioural_features` (RDMA, WDMA, WDA, DegSim, length, FMV,
FMTD, rating entropy, DegreeSAD popularity summaries; the time columns when timestamps are used)
except PCA-VarSelect, which works on the rating matrix itself:

* :class:`RandomForestBaseline` — supervised, the SDLib / Burke et al. 2006 recipe (a classifier
  on hand-made attack features); threshold = the one maximizing out-of-fold F1 on the labeled
  accounts, so it is chosen on predictions the forest did not train on.
* :class:`IsolationForestBaseline` (Liu et al. 2008) and :class:`LOFBaseline` (Breunig et al.
  2000) — unsupervised on z-scored features; threshold at the (1 − contamination) quantile of the
  fitted scores (PyGOD's convention), so ``contamination`` × accounts are flagged.
* :class:`SingleFeatureBaseline` — the same forest on ONE trivial column, the account's degree
  (distinct items) or its number of ratings: injected-anomaly benchmarks are known to leak
  through degree (VGOD, Huang et al. 2023), so a reader must see what it alone achieves.
* :class:`PCAVarSelectBaseline` — Mehta & Nejdl 2009, "Unsupervised strategies for shilling
  detection and robust collaborative filtering": users are the variables of a PCA of the
  per-user z-scored rating matrix; the accounts with the smallest squared loadings on the top
  principal components contribute least to the common structure, and the expected attack size of
  them is flagged.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from graphrec.anomaly.features import behavioural_features
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)


def label_vector(y: object, num_users: int) -> np.ndarray:
    """Labels as a float array [num_users]: 1.0 anomalous, 0.0 normal, NaN unlabeled.

    Args:
        y: None (nothing labeled), a sequence / array with one entry per contiguous user id
            (-1 or NaN = unlabeled), or a Series indexed by contiguous user id.
        num_users: accounts of the ratings the labels belong to.

    Raises:
        ValueError: a wrong length, an index outside 0..num_users-1, or a value other than
            0, 1, -1 and NaN.
    """
    if y is None:
        return np.full(num_users, np.nan)
    if isinstance(y, pd.Series):
        index = y.index.to_numpy()
        if len(index) and (index.min() < 0 or index.max() >= num_users):
            raise ValueError(f"label index must be user ids in 0..{num_users - 1}")
        out = np.full(num_users, np.nan)
        out[index.astype(np.int64)] = y.to_numpy(np.float64)
    else:
        out = np.asarray(y, dtype=np.float64).ravel().copy()
        if len(out) != num_users:
            raise ValueError(f"y has {len(out)} entries, the ratings have {num_users} users")
    out[out == -1] = np.nan
    known = out[~np.isnan(out)]
    bad = known[(known != 0) & (known != 1)]
    if len(bad):
        raise ValueError(f"labels must be 0, 1, -1 or NaN, got {bad[0]}")
    return out


class FeatureBaseline(ABC):
    """Shared plumbing: feature table per ratings object, threshold and ``predict``.

    Args:
        use_time: passed to :func:`behavioural_features` (None = time features when the data
            has timestamps).
        seed: seed of every random component.
    """

    def __init__(self, *, use_time: bool | None = None, seed: int = 0) -> None:
        self.use_time = use_time
        self.seed = seed
        self.threshold_: float = np.nan
        self.decision_score_: np.ndarray | None = None
        self.labels_: np.ndarray | None = None
        self.feature_names_: list[str] = []
        self._fit_ratings: Ratings | None = None  # the fitted data: its scores are kept
        self._cache: tuple[Ratings, pd.DataFrame] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(use_time={self.use_time}, seed={self.seed})"

    def features(self, ratings: Ratings) -> pd.DataFrame:
        """The classic feature table of ``ratings`` (the last one is cached: same object, same
        table; :class:`Ratings` is treated as immutable)."""
        if self._cache is not None and self._cache[0] is ratings:
            return self._cache[1]
        frame = behavioural_features(ratings, use_time=self.use_time)
        if self.feature_names_ and list(frame.columns) != self.feature_names_:
            raise ValueError(
                f"{ratings.name}: feature columns {list(frame.columns)} differ from the fitted "
                f"{self.feature_names_} (timestamps present in one and not the other?)"
            )
        self._cache = (ratings, frame)
        return frame

    @abstractmethod
    def fit(self, ratings: Ratings, y: object = None, types: object = None) -> FeatureBaseline:
        """Learn from ``ratings`` (and labels ``y`` where the baseline uses them; ``types`` is
        accepted for the detectors' signature and ignored: the baselines are type-agnostic)."""

    @abstractmethod
    def decision_function(self, ratings: Ratings) -> np.ndarray:
        """[num_users] anomaly scores, higher = more anomalous."""

    def predict(self, ratings: Ratings) -> np.ndarray:
        """[num_users] 0/1 flags: score >= ``threshold_``."""
        self._check_fitted()
        return (self.decision_function(ratings) >= self.threshold_).astype(np.int64)

    def _check_fitted(self) -> None:
        if self.decision_score_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(ratings, y) first")

    def _finish_fit(self, scores: np.ndarray) -> None:
        self.decision_score_ = scores
        self.labels_ = (scores >= self.threshold_).astype(np.int64)


def _check_contamination(value: float) -> None:
    if not 0.0 < value <= 0.5:
        raise ValueError(f"contamination must be in (0, 0.5], got {value}")


def top_share_threshold(scores: np.ndarray, contamination: float) -> float:
    """The score of the ``max(1, round(contamination × n))``-th highest account, so that
    ``scores >= threshold`` flags that many (more only on ties)."""
    _check_contamination(contamination)
    count = min(len(scores), max(1, int(round(contamination * len(scores)))))
    return float(np.sort(scores)[::-1][count - 1])


# ----------------------------------------------------------------------------------- supervised
class RandomForestBaseline(FeatureBaseline):
    """Random forest on the classic features (Burke et al. 2006; SDLib's feature detectors).

    The threshold maximizes F1 of out-of-fold probabilities (stratified ``folds``-fold cross
    validation on the labeled accounts); the forest is then refit on all labeled accounts. With
    fewer positives than folds there is no honest out-of-fold estimate and the threshold is 0.5.

    Args:
        n_estimators: trees.
        folds: cross-validation folds of the threshold search.
        class_weight: passed to scikit-learn (``"balanced_subsample"``: anomalies are rare).
        n_jobs: scikit-learn workers (1: benchmarks share the machine).
    """

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        folds: int = 5,
        class_weight: str | None = "balanced_subsample",
        n_jobs: int = 1,
        use_time: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(use_time=use_time, seed=seed)
        if n_estimators < 1 or folds < 2:
            raise ValueError(f"need n_estimators >= 1 and folds >= 2, got {n_estimators}, {folds}")
        self.n_estimators = n_estimators
        self.folds = folds
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.model_: RandomForestClassifier | None = None
        self.oof_f1_: float = np.nan

    def _forest(self) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            class_weight=self.class_weight,
            min_samples_leaf=1,
            n_jobs=self.n_jobs,
            random_state=self.seed,
        )

    def fit(self, ratings: Ratings, y: object = None, types: object = None) -> RandomForestBaseline:
        labels = label_vector(y, ratings.num_users)
        known = ~np.isnan(labels)
        target = labels[known].astype(np.int64)
        if len(np.unique(target)) < 2:
            raise ValueError(
                f"RandomForestBaseline needs labeled anomalies and normals, got "
                f"{int(target.sum())} anomalous of {len(target)} labeled"
            )
        frame = self.features(ratings)
        self.feature_names_ = list(frame.columns)
        x = frame.to_numpy(np.float64)[known]  # [L, F]
        positives = int(target.sum())
        if positives >= self.folds and len(target) - positives >= self.folds:
            folds = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
            oof = cross_val_predict(self._forest(), x, target, cv=folds, method="predict_proba")
            self.threshold_, self.oof_f1_ = best_f1_threshold(target, oof[:, 1])
        else:
            log.warning("only %d labeled anomalies: threshold 0.5, no out-of-fold F1", positives)
            self.threshold_ = 0.5
        self.model_ = self._forest().fit(x, target)
        self._finish_fit(self._score(frame))
        return self

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.model_ is not None
        return self.model_.predict_proba(frame.to_numpy(np.float64))[:, 1]  # [U]

    def decision_function(self, ratings: Ratings) -> np.ndarray:
        if self.model_ is None:
            raise ValueError("RandomForestBaseline is not fitted: call fit(ratings, y) first")
        return self._score(self.features(ratings))


class SingleFeatureBaseline(RandomForestBaseline):
    """:class:`RandomForestBaseline` on one trivial column (see the module doc).

    Args:
        feature: ``"degree"`` (distinct items rated) or ``"ratings"`` (rating events, repeats
            included).
        n_estimators, folds, seed: as :class:`RandomForestBaseline`.
    """

    FEATURES = ("degree", "ratings")

    def __init__(
        self, feature: str = "degree", *, n_estimators: int = 100, folds: int = 5, seed: int = 0
    ) -> None:
        super().__init__(n_estimators=n_estimators, folds=folds, use_time=False, seed=seed)
        if feature not in self.FEATURES:
            raise ValueError(f"feature must be one of {self.FEATURES}, got {feature!r}")
        self.feature = feature

    def features(self, ratings: Ratings) -> pd.DataFrame:
        events = ratings.events
        users = events["user"].to_numpy(np.int64)
        if self.feature == "ratings":
            values = np.bincount(users, minlength=ratings.num_users)
        else:
            pairs = events[["user", "item"]].drop_duplicates()["user"].to_numpy(np.int64)
            values = np.bincount(pairs, minlength=ratings.num_users)
        return pd.DataFrame({self.feature: values.astype(np.float64)})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(feature={self.feature!r}, seed={self.seed})"


def best_f1_threshold(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The score threshold (flag ``scores >= t``) with the highest F1, and that F1."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )[:-1]  # the last point (recall 0) has no threshold
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


# --------------------------------------------------------------------------------- unsupervised
class _ContaminationBaseline(FeatureBaseline):
    """Unsupervised on z-scored features; threshold at the (1 − contamination) quantile."""

    def __init__(
        self, *, contamination: float = 0.05, use_time: bool | None = None, seed: int = 0
    ) -> None:
        super().__init__(use_time=use_time, seed=seed)
        _check_contamination(contamination)
        self.contamination = contamination
        self.scaler_: StandardScaler | None = None

    def _standard(self, frame: pd.DataFrame, *, fit: bool = False) -> np.ndarray:
        x = frame.to_numpy(np.float64)  # [U, F]
        if fit:
            self.feature_names_ = list(frame.columns)
            self.scaler_ = StandardScaler().fit(x)
        assert self.scaler_ is not None
        return self.scaler_.transform(x)

    def fit(
        self, ratings: Ratings, y: object = None, types: object = None
    ) -> _ContaminationBaseline:
        self.feature_names_ = []
        x = self._standard(self.features(ratings), fit=True)
        scores = self._fit_scores(x)
        self.threshold_ = top_share_threshold(scores, self.contamination)
        self._fit_ratings = ratings
        self._finish_fit(scores)
        return self

    def decision_function(self, ratings: Ratings) -> np.ndarray:
        self._check_fitted()
        if ratings is self._fit_ratings:
            assert self.decision_score_ is not None
            return self.decision_score_.copy()
        return self._new_scores(self._standard(self.features(ratings)))

    @abstractmethod
    def _fit_scores(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _new_scores(self, x: np.ndarray) -> np.ndarray: ...


class IsolationForestBaseline(_ContaminationBaseline):
    """Isolation forest (Liu, Ting & Zhou 2008): anomalies are isolated by few random splits.

    Score = minus scikit-learn's ``score_samples`` (the mean path-length score), so higher is
    more anomalous.
    """

    def __init__(
        self,
        *,
        contamination: float = 0.05,
        n_estimators: int = 300,
        use_time: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(contamination=contamination, use_time=use_time, seed=seed)
        self.n_estimators = n_estimators
        self.model_: IsolationForest | None = None

    def _fit_scores(self, x: np.ndarray) -> np.ndarray:
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.seed, n_jobs=1
        ).fit(x)
        return -self.model_.score_samples(x)

    def _new_scores(self, x: np.ndarray) -> np.ndarray:
        assert self.model_ is not None
        return -self.model_.score_samples(x)


class LOFBaseline(_ContaminationBaseline):
    """Local outlier factor (Breunig et al. 2000): density relative to the k nearest accounts.

    The fitted accounts get their own LOF (each excluded from its own neighbours); other ratings
    are scored as novelties against the fitted accounts.
    """

    def __init__(
        self,
        *,
        contamination: float = 0.05,
        n_neighbors: int = 20,
        use_time: bool | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(contamination=contamination, use_time=use_time, seed=seed)
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
        self.n_neighbors = n_neighbors
        self.model_: LocalOutlierFactor | None = None

    def _fit_scores(self, x: np.ndarray) -> np.ndarray:
        k = min(self.n_neighbors, len(x) - 1)
        self.model_ = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(x)
        return -self.model_.negative_outlier_factor_

    def _new_scores(self, x: np.ndarray) -> np.ndarray:
        assert self.model_ is not None
        return -self.model_.score_samples(x)


class PCAVarSelectBaseline(FeatureBaseline):
    """PCA-VarSelect (Mehta & Nejdl 2009): flag the users least represented by the top PCs.

    Each user's row of the rating matrix, missing entries counted as 0, is z-scored over all
    items (as in the paper); the users are the PCA's variables, so their loadings are the top
    left singular vectors of the U × I z-score matrix (eigenvectors of the user covariance
    D·Dᵀ). Genuine users share the structure of which items people rate and how; attack profiles
    (filler items drawn regardless of taste, ratings from item statistics) add little variance
    along those directions, so their squared loadings on the first ``components`` PCs are the
    smallest. Score = minus that sum; the expected attack size (``contamination`` × accounts) is
    flagged. The z-score matrix is never densified: it is sparse ratings minus a rank-one term,
    passed to ``svds`` as a linear operator. Transductive by nature: scoring other ratings
    recomputes the PCA on them.

    Args:
        contamination: expected share of attack accounts (flagged count).
        components: principal components used (3 in the paper).
    """

    def __init__(self, *, contamination: float = 0.05, components: int = 3, seed: int = 0) -> None:
        super().__init__(use_time=False, seed=seed)
        _check_contamination(contamination)
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        self.contamination = contamination
        self.components = components

    def fit(self, ratings: Ratings, y: object = None, types: object = None) -> PCAVarSelectBaseline:
        scores = self._loading_scores(ratings)
        self.threshold_ = top_share_threshold(scores, self.contamination)
        self._fit_ratings = ratings
        self._finish_fit(scores)
        return self

    def decision_function(self, ratings: Ratings) -> np.ndarray:
        self._check_fitted()
        if ratings is self._fit_ratings:
            assert self.decision_score_ is not None
            return self.decision_score_.copy()
        return self._loading_scores(ratings)

    def _loading_scores(self, ratings: Ratings) -> np.ndarray:
        from scipy.sparse.linalg import svds

        z = zscore_operator(ratings)  # [U, I] linear operator
        k = min(self.components, min(z.shape) - 1)
        if k < 1:
            raise ValueError(f"{ratings.name}: too few users or items for PCA ({z.shape})")
        v0 = np.random.default_rng(self.seed).standard_normal(min(z.shape))
        u, _, _ = svds(z, k=k, v0=v0)  # u: [U, k]
        return -(u**2).sum(axis=1)  # [U]


def zscore_operator(ratings: Ratings) -> LinearOperator:
    """The [U, I] matrix of per-user z-scores over all items (missing = rating 0), as a linear
    operator: D = diag(1/sd)·R − (mu/sd)·1ᵀ with R the sparse ratings (repeats averaged), mu and
    sd each row's mean and standard deviation over all I items. A row with sd 0 is all zeros."""
    ev = ratings.events
    user = ev["user"].to_numpy(np.int64)
    item = ev["item"].to_numpy(np.int64)
    rating = ev["rating"].to_numpy(np.float64)
    shape = (ratings.num_users, ratings.num_items)
    total = sp.csr_matrix((rating, (user, item)), shape=shape)  # duplicates summed
    count = sp.csr_matrix((np.ones_like(rating), (user, item)), shape=shape)
    matrix = total.copy()
    matrix.data = total.data / count.data  # same sparsity pattern: repeats averaged
    num_items = ratings.num_items
    mu = np.asarray(matrix.sum(axis=1)).ravel() / num_items  # [U]
    second = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel() / num_items
    sd = np.sqrt(np.maximum(second - mu**2, 0.0))
    inv = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 1e-12)  # [U]
    scaled = (sp.diags(inv) @ matrix).tocsr()  # [U, I]
    scaled_t = scaled.T.tocsr()
    shift = mu * inv  # [U]

    def matvec(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(num_items, -1)
        return (scaled @ x - np.outer(shift, x.sum(axis=0))).squeeze(-1)  # [U]

    def rmatvec(y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).reshape(len(shift), -1)
        return (scaled_t @ y - np.outer(np.ones(num_items), shift @ y)).squeeze(-1)  # [I]

    return LinearOperator(shape, matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
