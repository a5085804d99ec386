"""Supervised detector (step 1: every training account labeled): a random forest over the
account's inputs plus a label-aware aggregation over the user–item–user graph.

Model choice, measured on ML-100K step-1 tasks (70 % labeled, 2 seeds, F1 on the held-out 30 %): a
multi-class random forest over the anomaly *types* (score = 1 − P(normal)) reached F1 0.90; the same
forest on the binary label, extra-trees and a regularised logistic regression on quantile-normalised
inputs 0.72–0.86; adding the unlabeled neighbour means (``nb_`` columns) lowered F1 by 0.03–0.05, so
they are off by default. The same held in step 2, where the forest also learns from simulated attack
accounts (semi-supervised detector, leave one type out, no timestamps, 20 % labeled, dev harness
with five simulated copies, seeds 0-4, mean F1): 0.800 as here, against 0.789 without class weights,
0.788 with the normal class weighted as heavily as all anomaly classes together, 0.771 on the binary
label and 0.763 with extra-trees; gradient boosting (scikit-learn's histogram GBM, 100 rounds,
balanced classes, labeled rows scored by 5-fold cross-validation) reached 0.733 / 0.769 / 0.774 on
seeds 0-2 against 0.798 / 0.821 / 0.820, never-labeled types' recall 0.63 against 0.74.
Why multi-class: anomalous types occupy unrelated regions (a bot is a low-entropy profile, a copied
account a near-duplicate), each with a handful of examples; one binary "anomalous" class forces a
forest to carve them jointly, while per-type classes let each tree isolate one region. Why a forest
rather than a deep node classifier: a few hundred labeled accounts with ~40 heterogeneous,
heavy-tailed inputs — the regime where forests beat MLPs — and the graph enters through the inputs
instead: the encoder's embedding statistics, the relational features, and this detector's own
aggregation round, ``label_group_max`` / ``label_group_mean`` (``inputs.label_features``): the share
of *labeled* anomalies among the accounts that gave the same item the same value. A campaign's fakes
share their target, so the labeled ones expose the rest (FAP-style propagation, Zhang et al. 2015,
one hop). The account's own label never enters its own row.

Threshold: the score that maximises F1 on the out-of-bag predictions of the labeled accounts
(each scored by the trees whose bootstrap sample left it out, about a third of them). The label
aggregation never counts an account's own label, so an out-of-bag row sees what an evaluation
account sees: the labels of every other labeled account. This replaced a 4-fold cross-validation
(five forests instead of one, 80 % of the forest time when detecting every account of ML-1M) at
the same held-out F1 on ML-100K step 1 (3%/3% cell, seeds 0-2, with and without time: mean
0.840 against 0.842). ``decision_score_`` holds the out-of-bag scores for
labeled accounts and the forest's scores for the others.

Unlabeled accounts (``unlabeled_weight`` > 0, which the semi-supervised detector uses): the
forest's only normal examples are the labeled normals — about 180 with 20 % of ML-100K
labeled — so genuine accounts off their beaten track (very long or very low-rated profiles of
unpopular films) sit outside the normal region and rank among the anomalies, in every split
alike. The unlabeled accounts, mostly normal, fill that region in: they are split into
``folds``, and each fold is scored by a forest that also learnt the other folds' unlabeled
accounts as normal examples (cross-fitting: no account is scored by trees told it is normal).
Each weighs ``unlabeled_weight`` times its probability of being normal — the labeled-only
forest's score calibrated on the labeled accounts' out-of-bag scores — as Elkan & Noto (2008)
weight unlabeled examples, so accounts that look like the labeled or simulated anomalies teach
little. Measured without timestamps on ML-100K, 20 % labeled (dev harness with the landed
threshold rule; one type never labeled and never simulated: 15 splits, seeds 0-4; three
types: 8 random triples, seeds 0-2), F1 and the never-labeled types' recall:

=========================  ============  ==============
unlabeled rows as normals  one type      three types
=========================  ============  ==============
no (labeled-only forest)   .778 / .724   .785 / .729
flat weight 0.3            .791 / .722   .781 / .674
calibrated, weight 0.3     .793 / .735   .795 / .725
calibrated, weight 1       .795 / .748
=========================  ============  ==============

Flat weights teach the never-labeled anomalies among the unlabeled accounts as normal: with
three types hidden (about 18 such accounts) their recall fell, in the benchmark too (F1 .784 →
.785, recall of the unseen types .716 → .667, ``runs/bench/anomaly__20261201-091739.json``).
The benchmark (``scripts/bench_anomaly.py``, 3 seeds, calibrated weight 1): one type never
labeled, F1 .789 → .805 without and .870 → .874 with timestamps, its recall .706 → .735 and
.819 → .817; three types, F1 .784 → .788 and .849 → .847, their recall .716 → .673 and
.806 → .793 — with several types unlabeled the weighting does not spare them all.
The cross-fitted scores learnt some anomalies as normal, so calibrated they would estimate too
small a share of anomalies (0.088 against 0.107 with flat weights, truth 0.112-0.118); the
share is estimated from ``base_score_`` (:mod:`~graphrec.anomaly.detectors.semi_supervised`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import precision_recall_curve

from graphrec.anomaly.detectors.base import Detector
from graphrec.anomaly.detectors.inputs import InputOptions, label_features
from graphrec.anomaly.detectors.simulated import simulated_anomalies
from graphrec.anomaly.labels import NORMAL
from graphrec.data.ratings import Ratings
from graphrec.errors import DataError

log = logging.getLogger(__name__)

MIN_PER_CLASS = 2


class SupervisedDetector(Detector):
    """Multi-class random forest + one-hop label aggregation (module docstring).

    Args:
        n_estimators: trees (default 200).
        use_types: learn the anomaly types when given (default True); else the 0/1 label.
        label_neighbours: add the label aggregation columns (default True; off when
            simulating).
        simulate: add simulated attack accounts of the literature's families as training
            anomalies (:mod:`graphrec.anomaly.detectors.simulated`; default False).
        simulate_exclude: anomaly types not to simulate.
        simulate_copies: how many times each family is simulated (default None: enough for
            about 110 accounts per family, ``simulated.default_copies``; each copy costs about
            two input computations of the data).
        unlabeled_weight: > 0 scores the unlabeled accounts by cross-fitting (module docstring,
            "Unlabeled accounts"), each of their rows a normal example of this weight times
            its calibrated probability of being normal;
            0 (default) scores them with the forest of the labeled accounts alone.
        folds: cross-fitting folds of the unlabeled accounts (default 4).
        contamination: only reported; the threshold comes from out-of-bag F1.
        inputs: input options (default without neighbour means).
        seed: forest and encoder seed.

    Attributes:
        model_: the forest fitted on every labeled account.
        fold_models_: the cross-fitting forests (empty unless ``unlabeled_weight`` > 0).
        base_score_: ``model_``'s scores of the fitting accounts (out-of-bag for the labeled
            ones); ``decision_score_`` differs from it on the cross-fitted unlabeled accounts.
        classes_: its classes (``normal`` and the anomaly types, or ``0``/``1``).
        oob_f1_: out-of-bag F1 at ``threshold_``.
    """

    name = "supervised"

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        use_types: bool = True,
        label_neighbours: bool = True,
        simulate: bool = False,
        simulate_exclude: tuple[str, ...] = (),
        simulate_copies: int | None = None,
        unlabeled_weight: float = 0.0,
        folds: int = 4,
        contamination: float = 0.07,
        inputs: InputOptions | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            contamination=contamination,
            inputs=inputs or InputOptions(aggregate=False, seed=seed),
            seed=seed,
        )
        if n_estimators < 1:
            raise ValueError(f"need n_estimators >= 1, got {n_estimators}")
        if unlabeled_weight < 0 or folds < 2:
            raise ValueError(
                f"need unlabeled_weight >= 0 and folds >= 2, got {unlabeled_weight}, {folds}"
            )
        self.unlabeled_weight = unlabeled_weight
        self.folds = folds
        self.n_estimators = n_estimators
        self.use_types = use_types
        self.simulate = simulate
        self.simulate_exclude = tuple(simulate_exclude)
        self.simulate_copies = simulate_copies
        # simulated accounts have no labeled neighbourhood to aggregate (see simulated.py)
        self.label_neighbours = label_neighbours and not simulate
        self.simulated_: int = 0
        self.model_: RandomForestClassifier | None = None
        self.fold_models_: list[RandomForestClassifier] = []
        self.base_score_: np.ndarray | None = None
        self.classes_: list[str] = []
        self.oob_f1_: float | None = None

    # ------------------------------------------------------------------ fit
    def _fit(
        self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray, types: np.ndarray
    ) -> np.ndarray:
        known = ~np.isnan(y)
        positives, negatives = int((y[known] == 1).sum()), int((y[known] == 0).sum())
        if positives < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
            raise DataError(
                f"supervised detection needs at least {MIN_PER_CLASS} labeled accounts of each "
                f"class, got {positives} anomalous and {negatives} normal"
            )
        target = self._target(y, types)
        rows = np.flatnonzero(known)
        x = self._design(ratings, features, y)
        x_train, target_train = x[rows], target[rows]
        if self.simulate:
            planted, kinds = simulated_anomalies(
                ratings,
                self._features,
                exclude=self.simulate_exclude,
                copies=self.simulate_copies,
                seed=self.seed,
            )
            self.simulated_ = len(kinds)
            x_train = np.vstack([x_train, planted[features.columns].to_numpy(np.float64)])
            named = kinds if self.use_types else np.full(len(kinds), "anomalous")
            target_train = np.concatenate([target_train, named])
        self.model_ = self._forest().fit(x_train, target_train)
        self.classes_ = [str(c) for c in self.model_.classes_]
        oob = _anomaly_score(self.model_, None)[: len(rows)]  # out-of-bag, labeled accounts
        self.threshold_, self.oob_f1_ = best_f1_threshold(y[rows], oob)
        scores = _anomaly_score(self.model_, x)
        scores[rows] = oob
        log.info("supervised: out-of-bag F1 %.3f at threshold %.4f", self.oob_f1_, self.threshold_)
        self.base_score_ = scores.copy()
        self.fold_models_ = []
        unlabeled = np.flatnonzero(~known)
        if self.unlabeled_weight > 0 and len(unlabeled) >= self.folds:
            anomalous = calibrated(oob, y[rows], scores[unlabeled])
            scores[unlabeled], self.fold_models_ = cross_fit_unlabeled(
                lambda: self._forest(oob=False),
                x_train,
                target_train,
                x[unlabeled],
                weights=self.unlabeled_weight * (1.0 - anomalous),
                folds=self.folds,
                seed=self.seed,
            )
        return scores

    def _score(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        assert self.model_ is not None
        x = self._design(ratings, features, y)
        if self.fold_models_:  # the scale the unlabeled accounts were scored on
            return np.mean([_anomaly_score(m, x) for m in self.fold_models_], axis=0)
        return _anomaly_score(self.model_, x)

    # ------------------------------------------------------------------ helpers
    def _target(self, y: np.ndarray, types: np.ndarray) -> np.ndarray:
        target = np.where(y == 1, "anomalous", NORMAL).astype(object)
        if self.use_types:
            typed = (y == 1) & (types != "") & (types != "anomalous")
            target[typed] = types[typed]
            # a type with a single example cannot be learnt as its own class
            names, counts = np.unique(target[~np.isnan(y)].astype(str), return_counts=True)
            rare = set(names[counts < MIN_PER_CLASS]) - {NORMAL}
            target[np.isin(target.astype(str), list(rare))] = "anomalous"
        return target.astype(str)

    def _design(self, ratings: Ratings, features: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
        x = features.to_numpy(np.float64)
        if self.label_neighbours:
            x = np.hstack([x, label_features(ratings, labels).to_numpy()])
        return x

    def _forest(self, oob: bool = True) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            class_weight="balanced_subsample",
            oob_score=oob,
            random_state=self.seed,
            n_jobs=-1,  # every core; the trees are seeded up front, so results do not change
        )

    def describe(self) -> str:
        simulated = f"; {self.simulated_} simulated attack accounts" if self.simulate else ""
        return (
            f"supervised random forest over {len(self.classes_)} classes "
            f"({', '.join(self.classes_)}){simulated}; threshold {self.threshold_:.4f} "
            f"maximises out-of-bag F1 ({self.oob_f1_:.3f})"
        )


def _anomaly_score(model: RandomForestClassifier, x: np.ndarray | None) -> np.ndarray:
    """1 − P(normal) (multi-class) or P(1) (binary); ``x`` None = the out-of-bag estimates of
    the training rows."""
    proba = model.oob_decision_function_ if x is None else model.predict_proba(x)  # [N, C]
    classes = [str(c) for c in model.classes_]
    if NORMAL in classes:
        return 1.0 - proba[:, classes.index(NORMAL)]
    return proba[:, classes.index("anomalous")] if "anomalous" in classes else proba[:, -1]


def calibrated(fit_scores: np.ndarray, fit_labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``scores`` as probabilities of being anomalous: isotonic regression of the labels on the
    fitting scores (out-of-bag ones, so the map is not overconfident)."""
    calibration = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return calibration.fit(fit_scores, fit_labels).predict(scores)


def cross_fit_unlabeled(
    make_forest: Callable[[], RandomForestClassifier],
    x_train: np.ndarray,
    target_train: np.ndarray,
    x_unlabeled: np.ndarray,
    *,
    weights: np.ndarray,
    folds: int,
    seed: int,
) -> tuple[np.ndarray, list[RandomForestClassifier]]:
    """Anomaly scores of unlabeled rows, each from a forest fitted on the training rows plus the
    other folds' unlabeled rows as normal examples of their ``weights``, never on its own row.

    Shapes: x_train [T, F], target_train [T], x_unlabeled [U, F], weights [U] -> ([U], ``folds``
    forests).
    """
    fold = np.random.default_rng(seed).permutation(len(x_unlabeled)) % folds
    out = np.zeros(len(x_unlabeled))
    models = []
    for k in range(folds):
        rest = x_unlabeled[fold != k]
        sample_weight = np.concatenate([np.ones(len(target_train)), weights[fold != k]])
        model = make_forest().fit(
            np.vstack([x_train, rest]),
            np.concatenate([target_train, np.full(len(rest), NORMAL)]),
            sample_weight=sample_weight,
        )
        out[fold == k] = _anomaly_score(model, x_unlabeled[fold == k])
        models.append(model)
    return out, models


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold (flag ``score >= t``) with the best F1 on (y, scores), and that F1.

    Ties are broken towards the higher threshold; the threshold is placed halfway to the next
    lower score, so that a slightly lower score of a new account is still flagged.
    """
    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    f1 = f1[:-1]  # the last point has no threshold
    best = int(np.flatnonzero(f1 >= f1.max() - 1e-12)[-1])
    chosen = float(thresholds[best])
    lower = np.sort(scores[scores < chosen])
    if len(lower):
        chosen = 0.5 * (chosen + float(lower[-1]))
    return chosen, float(f1[best])
