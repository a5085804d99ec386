"""Semi-supervised detector (step 2: few labels, and anomaly types no label shows).

Two parts, each with its own threshold, combined so that either can flag an account:

* **supervised part** — what the labels teach, from one of two sources:

  - a ``pretrained`` detector (normally the :class:`SupervisedDetector` fitted on step 1, as the
    competition hands both steps' data to participants): it scores the new accounts with the new
    labels feeding its label-aware inputs. Its inputs are rotation-invariant statistics, so it
    transfers to another graph (see :mod:`graphrec.anomaly.detectors.inputs`). On ML-100K this is
    what makes step 2 workable: 10 % labels of ~1,000 accounts are ~7 labeled anomalies of six
    types, one or two examples per type.
  - otherwise **PU learning** (Elkan & Noto, "Learning classifiers from only positive and
    unlabeled data", KDD 2008): a random forest separates the labeled anomalies from *every
    other* account (labeled normals and unlabeled alike), ranking like a supervised classifier
    under Elkan & Noto's assumption while using all unlabeled accounts as (mostly normal)
    counter-examples. Scores are **cross-fitted** (each fold scored by forests that never saw it:
    an unlabeled anomaly, a "negative" in training, would otherwise be scored by trees that
    memorised it as normal). Its threshold maximises F1 of the labeled accounts' cross-fitted
    scores (positives against labeled normals).

* **unsupervised part** — :class:`~graphrec.anomaly.detectors.unsupervised.UnsupervisedDetector`.
  Labels only ever show step-1 types, so a classifier learns nothing about obfuscated, hijacked
  or copied accounts; this score is what catches them. Its threshold is set on the labeled
  *normal* accounts, the only clean sample of normal behaviour: the smallest score that at most
  ``fpr`` of them reach (without ten labeled normals: the ``contamination`` percentile).

**Pseudo-label propagation** (``propagate`` rounds, default 1): the accounts the first round
flags are added as anomalies to the labels that feed the supervised part's label-aware inputs
(the share of known anomalies among the accounts that gave an item the same value), and the
supervised part scores again — iterative classification (Neville & Jensen, 2000) in one hop of the
user–item–user graph. Campaigns share targets, so one flagged copy, hijacked account or
obfuscated fake exposes the rest of its campaign, including types no label showed. Pseudo-labels
make that input far denser than the labels the part was trained with, so each round's threshold
is re-set on the labeled normals (at most ``fpr`` of them flagged, never below the first round's).
On ML-100K step 2 (three seeds, with the step-1 detector) one round raised F1 from 0.70 to 0.74.

Combination: ``score = max(supervised / its threshold, unsupervised / its threshold)``, so
``threshold_ = 1`` and an account is flagged when either part flags it. A learned stacking on the
labeled part was rejected on purpose: the labeled anomalies are all of step-1 types, which the
supervised part already ranks high, so stacking would learn to ignore the unsupervised score —
the one that finds unseen types.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold

from graphrec.anomaly.detectors.base import Detector, percentile_threshold
from graphrec.anomaly.detectors.inputs import InputOptions, label_features
from graphrec.anomaly.detectors.supervised import best_f1_threshold
from graphrec.anomaly.detectors.unsupervised import UnsupervisedDetector
from graphrec.anomaly.embeddings import fingerprint
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

MIN_NORMALS = 10
EPS = 1e-9


class SemiSupervisedDetector(Detector):
    """Supervised part (pretrained or PU) OR unsupervised part, each at its own threshold.

    Args:
        pretrained: a fitted detector whose scores are the supervised part (e.g. step 1's
            :class:`SupervisedDetector`); None = a cross-fitted PU forest on these labels.
        n_estimators: trees per PU fold forest (default 200).
        folds: PU cross-fitting folds (default 4).
        fpr: share of labeled normals each part may flag (default 0.01: with ~100 labeled
            normals, none — measured F1 0.74 on ML-100K step 2 against 0.69 at 0.02).
        top_k: ``top_k`` of the unsupervised part (default 1).
        propagate: pseudo-label rounds (default 1; 0 = none; see the module docstring).
        contamination: unsupervised fallback percentile without labeled normals (0.07).
        inputs: input options (default without neighbour means).
        seed: forests, folds and encoder seed.

    Attributes:
        supervised_thresholds_: the supervised part's threshold per round (empty when neither a
            pretrained detector nor two labeled anomalies exist: unsupervised only).
        unsupervised_threshold_: the unsupervised part's threshold.
        forests_: the PU fold forests.
        unsupervised_: the fitted unsupervised part.
    """

    name = "semi-supervised"

    def __init__(
        self,
        *,
        pretrained: Detector | None = None,
        n_estimators: int = 200,
        folds: int = 4,
        fpr: float = 0.01,
        top_k: int = 1,
        propagate: int = 1,
        contamination: float = 0.07,
        inputs: InputOptions | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            contamination=contamination,
            inputs=inputs or InputOptions(aggregate=False, seed=seed),
            seed=seed,
        )
        if not 0.0 < fpr < 1.0:
            raise ValueError(f"fpr must be in (0, 1), got {fpr}")
        if n_estimators < 1 or folds < 2:
            raise ValueError(f"need n_estimators >= 1 and folds >= 2, got {n_estimators}, {folds}")
        if pretrained is not None and pretrained.threshold_ is None:
            raise ValueError("the pretrained detector is not fitted")
        self.pretrained = pretrained
        self.n_estimators = n_estimators
        self.folds = folds
        self.fpr = fpr
        if propagate < 0:
            raise ValueError(f"propagate must be >= 0, got {propagate}")
        self.top_k = top_k
        self.propagate = propagate
        self.forests_: list[RandomForestClassifier] = []
        self.unsupervised_: UnsupervisedDetector | None = None
        self.supervised_thresholds_: list[float] = []
        self.unsupervised_threshold_: float | None = None
        self._fitted_key = ""
        self._fold = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ fit
    def _fit(
        self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray, types: np.ndarray
    ) -> np.ndarray:
        self.unsupervised_ = UnsupervisedDetector(
            contamination=self.contamination, top_k=self.top_k, inputs=self.inputs, seed=self.seed
        ).fit(ratings)
        unsup = self.unsupervised_.decision_score_
        normals = y == 0
        if normals.sum() >= MIN_NORMALS:
            self.unsupervised_threshold_ = _fpr_threshold(unsup[normals], self.fpr)
        else:
            self.unsupervised_threshold_ = percentile_threshold(unsup, self.contamination)
        self.threshold_ = 1.0
        self.forests_ = []
        self.supervised_thresholds_ = []
        if self.pretrained is not None:
            self.supervised_thresholds_ = [float(self.pretrained.threshold_)]
        elif (y == 1).sum() >= 2:
            self._fit_pu(ratings, features, y)
        else:
            log.warning("semi-supervised: fewer than 2 labeled anomalies; unsupervised part only")
            return self._combine(None, unsup, None)
        scores = self._combine(self._supervised(ratings, features, y), unsup, 0)
        for round_ in range(1, self.propagate + 1):
            supervised = self._supervised(ratings, features, _pseudo_labels(y, scores))
            threshold = self.supervised_thresholds_[0]
            if normals.sum() >= MIN_NORMALS:
                threshold = max(threshold, _fpr_threshold(supervised[normals], self.fpr))
            self.supervised_thresholds_.append(threshold)
            scores = self._combine(supervised, unsup, round_)
        return scores

    def _fit_pu(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> None:
        positive = y == 1  # NaN compares False: unlabeled accounts count as "unlabeled" (0)
        x = self._design(ratings, features, y)
        folds = min(self.folds, int(positive.sum()))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        self._fold = np.zeros(len(y), dtype=np.int64)
        for k, (train, held) in enumerate(splitter.split(x, positive)):
            forest = RandomForestClassifier(
                n_estimators=self.n_estimators,
                class_weight="balanced_subsample",
                min_samples_leaf=2,
                random_state=self.seed,
                n_jobs=-1,  # every core; the trees are seeded up front, so results do not change
            ).fit(x[train], positive[train])
            self._fold[held] = k
            self.forests_.append(forest)
        self._fitted_key = fingerprint(ratings)
        pu = self._supervised(ratings, features, y)
        labeled = ~np.isnan(y)
        threshold, _ = best_f1_threshold(y[labeled], pu[labeled])
        self.supervised_thresholds_ = [max(threshold, EPS)]

    # ------------------------------------------------------------------ score
    def _score(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        assert self.unsupervised_ is not None
        unsup = self.unsupervised_.decision_function(ratings)
        if not self.supervised_thresholds_:
            return self._combine(None, unsup, None)
        scores = self._combine(self._supervised(ratings, features, y), unsup, 0)
        for round_ in range(1, len(self.supervised_thresholds_)):
            supervised = self._supervised(ratings, features, _pseudo_labels(y, scores))
            scores = self._combine(supervised, unsup, round_)
        return scores

    def _supervised(
        self, ratings: Ratings, features: pd.DataFrame, labels: np.ndarray
    ) -> np.ndarray:
        """The supervised part's scores with ``labels`` feeding the label-aware inputs."""
        if self.pretrained is not None:
            return self.pretrained.decision_function(ratings, labels)
        x = self._design(ratings, features, labels)
        if fingerprint(ratings) == self._fitted_key:
            # the fitted accounts: each scored by the forest that never saw it (cross-fitting)
            out = np.zeros(len(x))
            for k, forest in enumerate(self.forests_):
                rows = self._fold == k
                out[rows] = forest.predict_proba(x[rows])[:, 1]
            return out
        return np.mean([f.predict_proba(x)[:, 1] for f in self.forests_], axis=0)

    def _combine(
        self, supervised: np.ndarray | None, unsup: np.ndarray, round_: int | None
    ) -> np.ndarray:
        u = unsup / max(self.unsupervised_threshold_ or EPS, EPS)
        if supervised is None or round_ is None:
            return u
        return np.maximum(supervised / max(self.supervised_thresholds_[round_], EPS), u)

    def _design(self, ratings: Ratings, features: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
        return np.hstack(
            [features.to_numpy(np.float64), label_features(ratings, labels).to_numpy()]
        )

    def describe(self) -> str:
        rounds = len(self.supervised_thresholds_) - 1
        if self.pretrained is not None:
            part = f"pretrained {self.pretrained.name} + {rounds} pseudo-label round(s)"
        elif self.forests_:
            part = f"cross-fitted PU forest + {rounds} pseudo-label round(s)"
        else:
            part = "no supervised part (fewer than 2 labeled anomalies)"
        return (
            f"semi-supervised: {part} OR unsupervised (threshold "
            f"{self.unsupervised_threshold_:.4f}, at most {100 * self.fpr:.0f}% of labeled "
            "normals); score = max of the parts over their thresholds, flagged at >= 1"
        )


def _fpr_threshold(normal_scores: np.ndarray, fpr: float) -> float:
    """The smallest threshold that at most ``fpr`` of these (labeled normal) scores reach."""
    ranked = np.sort(normal_scores)[::-1]
    allowed = int(np.floor(fpr * len(ranked)))
    return float(np.nextafter(ranked[min(allowed, len(ranked) - 1)], np.inf))


def _pseudo_labels(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The given labels plus 1 for every unlabeled account the previous round flagged."""
    out = y.copy()
    out[np.isnan(y) & (scores >= 1.0)] = 1.0
    return out
