"""Semi-supervised detector (step 2: few labels, and anomaly types no label shows).

Two parts, each with its own threshold, combined so that either can flag an account:

* **supervised part** — what the labels teach, from one of three sources:

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
    memorised it as normal). Its threshold flags the estimated share of anomalies among the
    unlabeled accounts (``threshold_rule``).
  - a :class:`~graphrec.anomaly.detectors.supervised.SupervisedDetector` fitted on the labeled
    accounts alone, when there are at least :data:`MIN_LABELED_FOR_FOREST` labeled accounts of
    each class (``supervised="auto"``): the unlabeled accounts hold every anomaly no label
    shows, and a PU forest trained to call them normal learns exactly the wrong thing about
    those types. Measured without timestamps on ML-100K, leave-one-type-out (15 types, 20 %
    labeled, about 22 labeled anomalies; each type hidden in turn, mean F1 over the 15 splits):
    PU 0.547 / 0.565 / 0.531 against 0.608 / 0.666 / 0.602 for the labeled forest over seeds
    0-2 (an average of the two, 0.584 / 0.602 / 0.544); with a third of the accounts anomalous,
    0.775 / 0.771 (PU) against 0.811 / 0.795. PU stays for a handful of labels, where a forest on
    the labeled accounts alone has too few examples to split on. With ``simulate`` (default)
    this forest also learns from simulated attack accounts of the literature's families,
    planted into the data (:mod:`graphrec.anomaly.detectors.simulated`): one or two labeled
    examples per type are too few, a few dozen simulated ones are not. Measured there (seeds
    0-4, the held-out type excluded from the simulation too): F1 0.639 / 0.731 / 0.636 / 0.612 /
    0.680 without, 0.693 / 0.746 / 0.782 / 0.674 / 0.739 with three copies of each family.
    The unlabeled accounts are scored by cross-fitting, the other folds' unlabeled accounts
    learnt as normal examples weighted by their calibrated probability of being normal
    (``unlabeled_weight``; :mod:`~graphrec.anomaly.detectors.supervised`, "Unlabeled
    accounts"): the labeled normals alone leave genuine off-track accounts outside the normal
    region.

* **unsupervised part** — :class:`~graphrec.anomaly.detectors.unsupervised.UnsupervisedDetector`.
  Labels only ever show step-1 types, so a classifier learns nothing about obfuscated, hijacked
  or copied accounts; this score is what catches them. Its threshold is set on the labeled
  *normal* accounts, the only clean sample of normal behaviour: the smallest score that at most
  ``fpr`` of them reach (without ten labeled normals: the ``contamination`` percentile).
  It costs precision where labels cover most types: without timestamps, leave one type out
  (seeds 0-2, 45 splits), it adds 0.9 true and 3.0 false flags per split to the forest's, and
  the forest alone scores F1 0.821 against 0.813 — but the never-labeled types' recall falls
  0.75 → 0.65 without it (dev harness; with timestamps, on older scores, 0.80 → 0.76), and that
  recall is what it is for. A threshold extrapolated past the labeled normals' maximum (a
  generalized Pareto tail fitted to their top tenth, set so that 0.25–2 unlabeled normals are
  expected above it; SPOT, Siffer et al., KDD 2017) changed F1 by +0.003 at most.

**Pseudo-label propagation** (``propagate`` rounds, default 0): the accounts the first round
flags are added as anomalies to the labels that feed the supervised part's label-aware inputs
(the share of known anomalies among the accounts that gave an item the same value), and the
supervised part scores again — iterative classification (Neville & Jensen, 2000) in one hop of the
user–item–user graph. Campaigns share targets, so one flagged copy, hijacked account or
obfuscated fake exposes the rest of its campaign, including types no label showed. Pseudo-labels
make that input far denser than the labels the part was trained with. It is off by default: on
the project's own step-2 grid one round raised F1 from 0.70 to 0.74 when its threshold was capped
at 1 % of the labeled normals, but that cap is a prior on the share of anomalies. Measured
without timestamps on ML-100K with 20 % labels at 2.4 %, 8.5 % and 35 % anomalous accounts (two
seeds each), mean F1 was 0.47 with the capped round, 0.52 with an uncapped one (it over-flags at
35 %) and 0.54 without propagation. Self-training of the forest itself was measured too (dev
harness, leave one type out, no timestamps, 20 % labeled, seeds 0-4): the unlabeled accounts
ranked in the top half of the estimated share, learnt as examples of their most probable anomaly
class in a second cross-fitted round, gave F1 0.798 / 0.825 / 0.825 / 0.782 / 0.771 against
0.798 / 0.821 / 0.820 / 0.787 / 0.772, and the never-labeled types' recall 0.72 against 0.74: the
top of the ranking is already pure (0.2 genuine accounts in the first 50 per split) and holds
only about two of the never-labeled type's five or six accounts, so it teaches little new.

**Share of anomalies.** No part assumes one. :attr:`prevalence_` is estimated from the labels —
the labeled positive rate when labeled normals exist (labels a random sample), else Elkan &
Noto's estimate ``(labeled positives / c) / N`` with ``c`` the mean cross-fitted PU score of the
labeled positives — and sets the PU forest's threshold (that share of the unlabeled accounts) and,
without ten labeled normals, the unsupervised part's percentile; an explicit ``contamination``
overrides it. The labeled forest's threshold flags the same share of the unlabeled accounts
(it used to maximise out-of-bag F1 on the labeled accounts; measured without timestamps on
ML-100K, leave one type out, seeds 0-4: F1 0.610 / 0.710 / 0.626 / 0.612 / 0.673 with the F1
threshold, 0.639 / 0.731 / 0.636 / 0.612 / 0.680 with the share — the out-of-bag scores of about
20 labeled anomalies put the F1 optimum low, and the forest flagged 5 % of the unlabeled normals).

With the labeled forest, the labeled rate is only a floor: types that no label shows are absent
from the labeled sample but present among the unlabeled accounts. So the estimate is the larger
of the labeled rate and a **probabilistic classify-and-count** (Bella et al., "Quantification via
probability estimators", ICDM 2010): the forest's scores, calibrated on the labeled accounts'
out-of-bag scores (isotonic regression), averaged over the unlabeled accounts — an unlabeled
account that scores like the labeled anomalies (or like the simulated families) counts, whatever
its type. Measured without timestamps on ML-100K, 20 % labeled, seeds 0-4 (dev harness: one
simulation per seed, unlabeled families' rows dropped), mean F1 and estimated share (true share
0.112-0.118): one type never labeled (15 splits per seed) 0.761 at the labeled rate (0.088)
against 0.756 (0.109); three types (8 random triples per seed) 0.749 (0.076) against 0.763
(0.091), higher on every seed; five types 0.691 (0.062) against 0.753 (0.086). The benchmark
(``scripts/bench_anomaly.py``, 3 seeds) agrees: one type never labeled, F1 0.768 → 0.765 without
timestamps and 0.844 → 0.852 with them; three types (``--hidden-types 3``), 0.747 → 0.771 and
0.790 → 0.846, the recall of the never-labeled types 0.57 → 0.67 and 0.59 → 0.81.
The forest alone flags that share, so the union with the unsupervised part flags a little more.
Making the union flag exactly the share (the unsupervised part's flags counted first) was tried
and rejected: one type never labeled, F1 0.765 → 0.770 without and 0.852 → 0.863 with
timestamps, but three types never labeled 0.771 → 0.767 and 0.846 → 0.817 — there the estimate
falls short of the truth, and the unsupervised part's extra flags are what make up for it.

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

from graphrec.anomaly.detectors.base import DEFAULT_CONTAMINATION, Detector, percentile_threshold
from graphrec.anomaly.detectors.inputs import InputOptions, label_features
from graphrec.anomaly.detectors.supervised import (
    SupervisedDetector,
    best_f1_threshold,
    calibrated,
)
from graphrec.anomaly.detectors.unsupervised import UnsupervisedDetector
from graphrec.anomaly.embeddings import fingerprint
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

MIN_NORMALS = 10
MIN_LABELED_FOR_FOREST = 10
"""Labeled accounts of each class above which the supervised part learns from them alone."""
SOURCES = ("auto", "pu", "labeled")
PREVALENCE, BEST_F1 = "prevalence", "f1"
THRESHOLD_RULES = (PREVALENCE, BEST_F1)
EPS = 1e-9


class SemiSupervisedDetector(Detector):
    """Supervised part (pretrained or PU) OR unsupervised part, each at its own threshold.

    Args:
        pretrained: a fitted detector whose scores are the supervised part (e.g. step 1's
            :class:`SupervisedDetector`); None = learnt from these labels (``supervised``).
        supervised: without ``pretrained``, ``"pu"`` (cross-fitted PU forest), ``"labeled"`` (a
            :class:`SupervisedDetector` on the labeled accounts) or ``"auto"`` (default:
            ``labeled`` with at least :data:`MIN_LABELED_FOR_FOREST` labeled accounts of each
            class, else ``pu``).
        threshold_rule: the learnt supervised part's threshold (PU or labeled forest):
            ``"prevalence"`` (default) flags the estimated share of anomalies
            (:attr:`prevalence_`, or ``contamination`` when given) among the unlabeled accounts;
            ``"f1"`` maximises F1 on the labeled accounts' cross-fitted scores, which with a
            dozen labeled anomalies swings from one draw of labels to the next (measured without
            timestamps, ML-100K, 20 % labeled, 8.5 % anomalous: F1 0.642 / 0.513 over two seeds
            against 0.638 / 0.606 for the prevalence rule; 2.4 % anomalous: 0.261 / 0.278
            against 0.255 / 0.375); for the labeled forest, its out-of-bag F1 threshold.
        n_estimators: trees per PU fold forest (default 200).
        folds: cross-fitting folds, PU or of the unlabeled accounts (default 4).
        fpr: share of labeled normals the unsupervised part may flag (default 0.005: with up
            to 199 labeled normals, none). Measured on ML-100K step 2 with the pretrained
            step-1 forest: F1 0.74 at 0.01 (~100 labeled normals, none flagged) against 0.69 at
            0.02; without timestamps, leave one type out, 20 % labeled (~180 labeled normals),
            seeds 0-4, mean F1 over the 15 splits (dev harness: one simulation per seed, the
            held-out family's rows dropped): 0.713 / 0.766 / 0.816 / 0.685 / 0.740 at
            0.01 (one labeled normal may be flagged) against 0.743 / 0.766 / 0.818 / 0.713 /
            0.761 at 0.005, at the same recall of the never-labeled type (0.63).
        top_k: ``top_k`` of the unsupervised part (default 1).
        propagate: pseudo-label rounds (default 0; see the module docstring).
        simulate: the labeled forest also learns from simulated attack accounts
            (:mod:`graphrec.anomaly.detectors.simulated`; default True, see the module doc).
        simulate_exclude: anomaly types not to simulate (leave-one-type-out benchmarks).
        simulate_copies: how many times each family is simulated (default None: enough for
            about 110 accounts per family; sixteen copies on ML-100K, see
            :mod:`~graphrec.anomaly.detectors.simulated`).
        unlabeled_weight: the labeled forest also learns each unlabeled account as a normal
            example of this weight times its calibrated probability of being normal,
            cross-fitted over ``folds`` (default 1; 0 = off; see
            :mod:`~graphrec.anomaly.detectors.supervised`, "Unlabeled accounts").
        contamination: the share of anomalies, when known (an explicit override); None
            (default) estimates it (:attr:`prevalence_`). It sets the supervised part's
            threshold (``threshold_rule="prevalence"``) and, without ten labeled normals, the
            unsupervised part's percentile.
        inputs: input options (default without neighbour means).
        seed: forests, folds and encoder seed.

    Attributes:
        supervised_thresholds_: the supervised part's threshold per round (empty when neither a
            pretrained detector nor two labeled anomalies exist: unsupervised only).
        supervised_source_: ``pretrained``, ``pu``, ``labeled`` or ``none``.
        prevalence_: the estimated share of anomalous accounts (see the module docstring).
        unsupervised_threshold_: the unsupervised part's threshold.
        forests_: the PU fold forests.
        unsupervised_: the fitted unsupervised part.
    """

    name = "semi-supervised"

    def __init__(
        self,
        *,
        pretrained: Detector | None = None,
        supervised: str = "auto",
        threshold_rule: str = "prevalence",
        n_estimators: int = 200,
        folds: int = 4,
        fpr: float = 0.005,
        top_k: int = 1,
        propagate: int = 0,
        simulate: bool = True,
        simulate_exclude: tuple[str, ...] = (),
        simulate_copies: int | None = None,
        unlabeled_weight: float = 1.0,
        contamination: float | None = None,
        inputs: InputOptions | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            contamination=DEFAULT_CONTAMINATION if contamination is None else contamination,
            inputs=inputs or InputOptions(aggregate=False, seed=seed),
            seed=seed,
        )
        if supervised not in SOURCES:
            raise ValueError(f"supervised must be one of {SOURCES}, got {supervised!r}")
        if threshold_rule not in THRESHOLD_RULES:
            raise ValueError(
                f"threshold_rule must be one of {THRESHOLD_RULES}, got {threshold_rule!r}"
            )
        self.supervised = supervised
        self.threshold_rule = threshold_rule
        self.contamination_given = contamination is not None
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
        self.simulate = simulate
        self.simulate_exclude = tuple(simulate_exclude)
        self.simulate_copies = simulate_copies
        self.unlabeled_weight = unlabeled_weight
        self.forests_: list[RandomForestClassifier] = []
        self.labeled_: SupervisedDetector | None = None
        self.supervised_source_ = "none"
        self.prevalence_: float | None = None
        self.unsupervised_: UnsupervisedDetector | None = None
        self.supervised_thresholds_: list[float] = []
        self.unsupervised_threshold_: float | None = None
        self._fitted_key = ""
        self._fit_labels = np.zeros(0)
        self._fold = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ fit
    def _fit(
        self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray, types: np.ndarray
    ) -> np.ndarray:
        normals, positives = y == 0, y == 1
        self.forests_, self.supervised_thresholds_, self.labeled_ = [], [], None
        if self.pretrained is not None:
            self.supervised_source_ = "pretrained"
            self.supervised_thresholds_ = [float(self.pretrained.threshold_)]
        elif positives.sum() >= 2:
            self.supervised_source_ = self._source(y)
            if self.supervised_source_ == "labeled":
                self.labeled_ = SupervisedDetector(
                    simulate=self.simulate,
                    simulate_exclude=self.simulate_exclude,
                    simulate_copies=self.simulate_copies,
                    unlabeled_weight=self.unlabeled_weight,
                    folds=self.folds,
                    inputs=self.inputs,
                    seed=self.seed,
                )
                self.labeled_.fit(ratings, y, types)
                self._fitted_key, self._fit_labels = fingerprint(ratings), y.copy()
                self.supervised_thresholds_ = [self._labeled_threshold(ratings, features, y)]
            else:
                self._fit_pu(ratings, features, y)
        else:
            self.supervised_source_ = "none"
            log.warning("semi-supervised: fewer than 2 labeled anomalies; unsupervised part only")
        self.prevalence_ = self._prevalence(ratings, features, y)
        share = self.contamination if self.contamination_given else self.prevalence_
        self.unsupervised_ = UnsupervisedDetector(
            contamination=share, top_k=self.top_k, inputs=self.inputs, seed=self.seed
        ).fit(ratings)
        unsup = self.unsupervised_.decision_score_
        if normals.sum() >= MIN_NORMALS:
            self.unsupervised_threshold_ = _fpr_threshold(unsup[normals], self.fpr)
        else:
            self.unsupervised_threshold_ = percentile_threshold(unsup, share)
        self.threshold_ = 1.0
        if not self.supervised_thresholds_:
            return self._combine(None, unsup, None)
        scores = self._combine(self._supervised(ratings, features, y), unsup, 0)
        for round_ in range(1, self.propagate + 1):
            supervised = self._supervised(ratings, features, _pseudo_labels(y, scores))
            self.supervised_thresholds_.append(self.supervised_thresholds_[0])
            scores = self._combine(supervised, unsup, round_)
        return scores

    def _source(self, y: np.ndarray) -> str:
        """``labeled`` or ``pu`` for ``supervised="auto"`` (see the class doc)."""
        if self.supervised != "auto":
            return self.supervised
        enough = min(int((y == 0).sum()), int((y == 1).sum())) >= MIN_LABELED_FOR_FOREST
        return "labeled" if enough else "pu"

    def _labeled_threshold(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> float:
        """The labeled forest's threshold: its out-of-bag F1 threshold (``threshold_rule="f1"``
        or no unlabeled account), else the score that flags the share of anomalies
        (:meth:`_prevalence`, or ``contamination`` when given) among the unlabeled accounts."""
        assert self.labeled_ is not None
        unlabeled = np.isnan(y)
        if self.threshold_rule == BEST_F1 or not unlabeled.any():
            return float(self.labeled_.threshold_)
        given = self.contamination_given
        share = self.contamination if given else self._prevalence(ratings, features, y)
        scores = self.labeled_.decision_score_[unlabeled]
        return max(float(np.quantile(scores, 1.0 - share)), EPS)

    def _prevalence(self, ratings: Ratings, features: pd.DataFrame, y: np.ndarray) -> float:
        """The estimated share of anomalous accounts (module docstring), clipped to (0, 0.5]."""
        labeled, positives = ~np.isnan(y), int((y == 1).sum())
        if (y == 0).sum() >= MIN_NORMALS:
            estimate = positives / int(labeled.sum())
            if self.labeled_ is not None and not labeled.all():
                estimate = max(estimate, self._classify_and_count(y))
        elif self.forests_:
            c = float(np.mean(self._supervised(ratings, features, y)[y == 1]))
            estimate = positives / max(c, EPS) / len(y)
        else:
            estimate = self.contamination
        return float(np.clip(estimate, 1.0 / len(y), 0.5))

    def _classify_and_count(self, y: np.ndarray) -> float:
        """The labeled forest's estimate of the share of anomalies among the unlabeled accounts:
        its scores calibrated on the labeled accounts' out-of-bag scores, averaged. The forest
        of the labeled accounts alone (``base_score_``): the cross-fitted scores learnt the
        unlabeled anomalies as normal and would estimate too few."""
        assert self.labeled_ is not None
        scores, labeled = self.labeled_.base_score_, ~np.isnan(y)
        return float(calibrated(scores[labeled], y[labeled], scores[~labeled]).mean())

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
        if self.threshold_rule == PREVALENCE:
            share = self._prevalence(ratings, features, y)
            threshold = float(np.quantile(pu[~labeled], 1.0 - share))
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
        if self.labeled_ is not None:
            fitted = fingerprint(ratings) == self._fitted_key
            if fitted and np.array_equal(labels, self._fit_labels, equal_nan=True):
                return self.labeled_.decision_score_  # labeled accounts out-of-bag
            return self.labeled_.decision_function(ratings, labels)
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
        elif self.labeled_ is not None:
            simulated = self.labeled_.simulated_
            extra = f" and {simulated} simulated attack accounts" if simulated else ""
            part = f"forest on the labeled accounts{extra} + {rounds} pseudo-label round(s)"
        elif self.forests_:
            part = f"cross-fitted PU forest + {rounds} pseudo-label round(s)"
        else:
            part = "no supervised part (fewer than 2 labeled anomalies)"
        return (
            f"semi-supervised: {part} OR unsupervised (threshold "
            f"{self.unsupervised_threshold_:.4f}, at most {100 * self.fpr:.1f}% of labeled "
            "normals); score = max of the parts over their thresholds, flagged at >= 1; "
            f"estimated share of anomalies {self.prevalence_:.3f}"
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
