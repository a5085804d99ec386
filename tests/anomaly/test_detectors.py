"""Detectors: minimum quality on small injected graphs, no label leakage, the threshold contract."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from graphrec.anomaly.detectors import (
    InputOptions,
    SemiSupervisedDetector,
    SupervisedDetector,
    UnsupervisedDetector,
    as_labels,
    choose_mode,
)
from graphrec.anomaly.detectors.semi_supervised import MIN_LABELED_FOR_FOREST
from graphrec.anomaly.detectors.supervised import best_f1_threshold, cross_fit_unlabeled
from graphrec.anomaly.inject import (
    BotConfig,
    InjectionConfig,
    ShillingAttack,
    ViewingConfig,
)
from graphrec.anomaly.labels import AVERAGE, BOT_CONSISTENCY, NUKE, PUSH, RANDOM
from graphrec.anomaly.task import TEST, TwoStepTask, make_task
from graphrec.data.ratings import Ratings
from graphrec.data.synthetic import generate
from graphrec.eval.detection import detection_report

FAST = InputOptions(embedding_epochs=10, aggregate=False)


def textbook_config(bots: bool = False) -> InjectionConfig:
    """Textbook attacks (uniform fillers) at 3-4 % each: ~35 anomalies among ~320 accounts."""
    return InjectionConfig(
        shilling=(
            ShillingAttack(PUSH, AVERAGE, attack_size=0.04),
            ShillingAttack(NUKE, RANDOM, attack_size=0.03),
        ),
        viewing=ViewingConfig(size=0.03),
        bots=BotConfig(size=0.04) if bots else None,
        filler_by_popularity=False,
    )


@pytest.fixture(scope="module")
def small() -> Ratings:
    return generate("ml-100k", seed=0, scale=0.3)  # ~280 users, 30k ratings


@pytest.fixture(scope="module")
def step1(small: Ratings) -> TwoStepTask:
    return make_task(small, 1, seed=0, config=textbook_config())


@pytest.fixture(scope="module")
def supervised(step1: TwoStepTask) -> SupervisedDetector:
    y = step1.label_series()
    return SupervisedDetector(n_estimators=100, inputs=FAST).fit(step1.ratings, y, typed(step1, y))


def typed(task: TwoStepTask, y: pd.Series) -> pd.Series:
    return pd.Series(task.truth["type"].to_numpy()).where(y.notna().to_numpy())


def held_out(task: TwoStepTask) -> np.ndarray:
    return (task.truth["split"] == TEST).to_numpy()


def test_supervised_f1_on_held_out_accounts(
    step1: TwoStepTask, supervised: SupervisedDetector
) -> None:
    test = held_out(step1)
    truth = step1.truth["label"].to_numpy()
    flags = supervised.predict(step1.ratings)
    report = detection_report(truth[test], supervised.decision_score_[test], flags[test])
    assert report["f1"] >= 0.8, report
    assert supervised.oob_f1_ is not None and supervised.oob_f1_ >= 0.7
    assert "normal" in supervised.classes_ and len(supervised.classes_) >= 3  # per-type classes


def test_unsupervised_ranks_anomalies_without_labels(step1: TwoStepTask) -> None:
    detector = UnsupervisedDetector(inputs=FAST).fit(step1.ratings)
    auc = roc_auc_score(step1.truth["label"], detector.decision_score_)
    assert auc >= 0.7, auc
    contributions = detector.contributions(step1.ratings)
    assert contributions.shape == (step1.ratings.num_users, len(detector.columns_))
    assert (contributions.to_numpy() >= 0).all()


def test_labels_of_evaluation_accounts_never_reach_fit(step1: TwoStepTask) -> None:
    y = step1.label_series()
    test = held_out(step1)
    assert y[test].isna().all()
    base = SupervisedDetector(n_estimators=50, inputs=FAST).fit(step1.ratings, y)
    # the truth of the evaluation accounts shuffled: the detector cannot tell
    shuffled = step1.truth.copy()
    rng = np.random.default_rng(0)
    idx = np.flatnonzero(test)
    shuffled.loc[idx, "label"] = rng.permutation(shuffled.loc[idx, "label"].to_numpy())
    again = TwoStepTask(1, step1.ratings, shuffled, step1.public, step1.injected)
    other = SupervisedDetector(n_estimators=50, inputs=FAST).fit(
        step1.ratings, again.label_series()
    )
    np.testing.assert_array_equal(base.decision_score_, other.decision_score_)
    # ...while labels that are given do matter (the check above has teeth)
    leaked = SupervisedDetector(n_estimators=50, inputs=FAST).fit(
        step1.ratings, step1.truth["label"].astype(float)
    )
    assert not np.allclose(leaked.decision_score_[test], base.decision_score_[test])


def test_predict_respects_threshold_and_contamination(step1: TwoStepTask) -> None:
    for contamination in (0.05, 0.2):
        detector = UnsupervisedDetector(contamination=contamination, inputs=FAST)
        detector.fit(step1.ratings)
        scores = detector.decision_function(step1.ratings)
        np.testing.assert_allclose(scores, detector.decision_score_)
        flags = detector.predict(step1.ratings)
        np.testing.assert_array_equal(flags, (scores >= detector.threshold_).astype(int))
        share = flags.mean()
        assert abs(share - contamination) <= 2 / len(flags) + 0.01, share
    with pytest.raises(ValueError, match="contamination"):
        UnsupervisedDetector(contamination=0.7)
    with pytest.raises(RuntimeError, match="not fitted"):
        UnsupervisedDetector().predict(step1.ratings)


def test_step2_flags_a_type_no_label_shows(small: Ratings, supervised: SupervisedDetector) -> None:
    # Step 1 never saw bots; step 2 has them, and their labels are removed as well.
    step2 = make_task(small, 2, seed=1, config=textbook_config(bots=True))
    y = step2.label_series()
    types = step2.truth["type"].to_numpy()
    y[types == BOT_CONSISTENCY] = np.nan
    detector = SemiSupervisedDetector(pretrained=supervised, inputs=FAST).fit(step2.ratings, y)
    flags = detector.labels_
    bots = types == BOT_CONSISTENCY
    chance = flags.mean()
    recall = flags[bots].mean()
    assert recall >= 0.6 and recall >= 3 * chance, (recall, chance)
    np.testing.assert_array_equal(detector.predict(step2.ratings, y), flags)
    assert detector.threshold_ == 1.0
    # the pretrained part also ranks the known types on new data
    known = np.isin(types, ["shilling_push", "shilling_nuke", "abnormal_viewing"])
    normal = types == "normal"
    assert flags[known].mean() >= 0.6 and flags[normal].mean() <= 0.1


def test_pu_part_without_pretrained_detector(small: Ratings) -> None:
    step2 = make_task(small, 2, seed=2, config=textbook_config(bots=True), label_share=0.3)
    y = step2.label_series()
    detector = SemiSupervisedDetector(inputs=FAST, n_estimators=50, supervised="pu")
    detector.fit(step2.ratings, y)
    assert detector.forests_ and len(detector.supervised_thresholds_) == 1
    assert detector.supervised_source_ == "pu"
    truth = step2.truth["label"].to_numpy()
    test = held_out(step2)
    assert roc_auc_score(truth[test], detector.decision_score_[test]) >= 0.8
    assert "PU forest" in detector.describe()


@pytest.mark.parametrize("share", [0.01, 0.05, 0.2, 0.4])
def test_share_of_anomalies_is_estimated_from_the_labels(small: Ratings, share: float) -> None:
    # Constant bots (easy to rank) at 1 % to 40 % of the accounts, a random 30 % labeled.
    config = InjectionConfig(bots=BotConfig(size=share / (1 - share), pattern_share=0.0))
    task = make_task(small, 1, seed=3, config=config, test_share=0.7)
    y = task.label_series()
    detector = SemiSupervisedDetector(inputs=FAST, n_estimators=50).fit(task.ratings, y)
    truth = task.truth["label"].to_numpy()
    labeled = ~held_out(task)
    rate = truth[labeled].mean()
    if detector.supervised_source_ == "labeled":  # classify-and-count may raise the floor
        assert rate <= detector.prevalence_ <= 1.25 * truth.mean() + 0.01, (rate, truth.mean())
    else:
        assert detector.prevalence_ == pytest.approx(rate)
    flagged = detector.labels_[~labeled].mean()
    assert 0.5 * truth.mean() <= flagged <= 2.0 * truth.mean() + 0.02, (flagged, truth.mean())
    words = {"labeled": "labeled accounts", "pu": "PU forest", "none": "no supervised part"}
    assert words[detector.supervised_source_] in detector.describe()
    enough = min(truth[labeled].sum(), (1 - truth[labeled]).sum()) >= MIN_LABELED_FOR_FOREST
    assert (detector.supervised_source_ == "labeled") == enough


def test_share_counts_anomalies_of_types_no_label_shows(small: Ratings) -> None:
    # Bots are never labeled: the labeled rate misses them, classify-and-count does not.
    config = replace(textbook_config(), bots=BotConfig(size=0.1, pattern_share=0.0))
    task = make_task(
        small, 2, seed=1, config=config, label_share=0.5, hidden_types=(BOT_CONSISTENCY,)
    )
    y = task.label_series().to_numpy()
    detector = SemiSupervisedDetector(inputs=FAST, n_estimators=50).fit(task.ratings, y)
    assert detector.supervised_source_ == "labeled"
    labeled, truth = ~np.isnan(y), task.truth["label"].to_numpy()
    rate, unlabeled_share = y[labeled].mean(), truth[~labeled].mean()
    assert rate < detector.prevalence_ <= unlabeled_share + 0.02, (rate, unlabeled_share)
    assert abs(detector.prevalence_ - unlabeled_share) < 0.5 * abs(rate - unlabeled_share)


def test_labeled_forest_threshold_flags_the_estimated_share(small: Ratings) -> None:
    # Enough labels of each class for the labeled forest; its threshold comes from the share.
    task = make_task(small, 1, seed=5, config=textbook_config(bots=True), test_share=0.5)
    y = task.label_series().to_numpy()
    unlabeled = np.isnan(y)
    by_share = SemiSupervisedDetector(inputs=FAST, n_estimators=50).fit(task.ratings, y)
    assert by_share.supervised_source_ == "labeled"
    supervised = by_share.labeled_.decision_score_[unlabeled]

    def flags_share(threshold: float, share: float) -> bool:
        # forest scores tie: the share lies between "above" and "at or above" the threshold,
        # give or take the one account the quantile interpolates across
        step = 1.0 / len(supervised)
        above, at = (supervised > threshold).mean(), (supervised >= threshold).mean()
        return above - step <= share <= at + step

    assert flags_share(by_share.supervised_thresholds_[0], by_share.prevalence_)
    forest = by_share.labeled_
    assert len(forest.fold_models_) == by_share.folds
    labeled_rows = forest.decision_score_[~unlabeled]
    np.testing.assert_array_equal(labeled_rows, forest.base_score_[~unlabeled])  # out-of-bag
    assert not np.allclose(supervised, forest.base_score_[unlabeled])  # cross-fitted
    forced = SemiSupervisedDetector(inputs=FAST, n_estimators=50, contamination=0.3)
    forced.fit(task.ratings, y)
    assert flags_share(forced.supervised_thresholds_[0], 0.3)
    assert forced.supervised_thresholds_[0] < by_share.supervised_thresholds_[0]
    by_f1 = SemiSupervisedDetector(inputs=FAST, n_estimators=50, threshold_rule="f1")
    by_f1.fit(task.ratings, y)
    assert by_f1.supervised_thresholds_ == [by_f1.labeled_.threshold_]


def test_cross_fitting_learns_off_track_normals_from_unlabeled_rows() -> None:
    # Labeled normals near the origin, labeled anomalies of two kinds on the axes. The unlabeled
    # rows: off-track normals in a corner no labeled normal reaches, and anomalies of both kinds.
    rng = np.random.default_rng(0)
    blob = lambda centre, n: rng.normal(centre, 0.5, size=(n, 2))  # noqa: E731
    x_train = np.vstack([blob((0, 0), 60), blob((5, 0), 30), blob((0, 5), 30)])
    target = np.array(["normal"] * 60 + ["push"] * 30 + ["bot"] * 30)
    off_track, anomalies = blob((5, 5), 60), np.vstack([blob((5, 0), 4), blob((0, 5), 4)])
    x_unlabeled = np.vstack([off_track, anomalies])
    forest = lambda: RandomForestClassifier(50, random_state=0)  # noqa: E731
    base = forest().fit(x_train, target).predict_proba(x_unlabeled)
    base_score = 1 - base[:, 1]  # classes sorted: bot, normal, push
    scores, models = cross_fit_unlabeled(
        forest, x_train, target, x_unlabeled, weights=np.ones(len(x_unlabeled)), folds=4, seed=0
    )
    assert len(models) == 4
    assert base_score[:60].mean() > 0.9  # without the unlabeled rows: off-track = anomalous
    assert scores[:60].mean() < 0.5  # learnt from the other folds' off-track rows
    # no row is scored by a forest told it is normal: the anomalies keep their scores
    assert scores[60:].mean() > 0.85 and scores[60:].min() > 0.5


def test_explicit_contamination_overrides_the_estimate(small: Ratings) -> None:
    task = make_task(small, 1, seed=4, config=textbook_config(), test_share=0.9)
    y = task.label_series().to_numpy().copy()
    y[y == 0] = np.nan  # only anomalies labeled: the share comes from Elkan & Noto's c
    estimated = SemiSupervisedDetector(inputs=FAST, n_estimators=50).fit(task.ratings, y)
    assert estimated.supervised_source_ == "pu" and 0.0 < estimated.prevalence_ <= 0.5
    forced = SemiSupervisedDetector(inputs=FAST, n_estimators=50, contamination=0.3)
    forced.fit(task.ratings, y)
    assert forced.unsupervised_.contamination == 0.3
    with pytest.raises(ValueError, match="threshold_rule"):
        SemiSupervisedDetector(threshold_rule="median")


def test_label_checks_and_mode_choice() -> None:
    assert as_labels(None, 3).tolist() == [pytest.approx(np.nan, nan_ok=True)] * 3
    y = as_labels(pd.Series([1.0, 0.0], index=[2, 0]), 3)
    assert y[0] == 0 and np.isnan(y[1]) and y[2] == 1
    with pytest.raises(ValueError, match="0 or 1"):
        as_labels(np.array([0.0, 2.0, np.nan]), 3)
    with pytest.raises(ValueError, match="shape"):
        as_labels(np.zeros(2), 3)
    with pytest.raises(ValueError, match="outside"):
        as_labels(pd.Series([1.0], index=[5]), 3)
    full = np.r_[np.ones(20), np.zeros(30)]
    assert choose_mode(full) == "supervised"
    few = np.full(100, np.nan)
    few[:3], few[3:10] = 1, 0
    assert choose_mode(few) == "semi-supervised"
    assert choose_mode(np.full(10, np.nan)) == "unsupervised"


def test_best_f1_threshold_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    threshold, f1 = best_f1_threshold(y, scores)
    assert f1 == 1.0 and 0.3 < threshold <= 0.7
