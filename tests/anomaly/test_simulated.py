"""Simulated attacks as training anomalies: what is planted, and that the forest learns from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from test_inject import synthetic

from graphrec.anomaly import labels as L
from graphrec.anomaly.detectors import InputOptions, SupervisedDetector
from graphrec.anomaly.detectors.inputs import detector_inputs
from graphrec.anomaly.detectors.simulated import (
    FAMILY_SHARE,
    MAX_COPIES,
    SIMULATED_PER_FAMILY,
    default_copies,
    simulated_anomalies,
)
from graphrec.anomaly.inject import BotConfig, InjectionConfig, ViewingConfig, full_config, inject
from graphrec.data.ratings import Ratings

FAST = InputOptions(embedding_epochs=5, aggregate=False)


@pytest.fixture(scope="module")
def base() -> Ratings:
    return synthetic(num_users=250, timestamps=False)


def inputs(ratings: Ratings):
    return detector_inputs(ratings, FAST)


def test_planted_families_and_their_inputs(base: Ratings) -> None:
    before = base.events.copy()
    excluded = {L.SHILLING_PUSH, L.BOT_CONSISTENCY}
    features, kinds = simulated_anomalies(base, inputs, exclude=excluded, copies=2, seed=1)
    assert set(kinds) == set(L.ANOMALY_TYPES) - excluded
    assert len(features) == len(kinds) and list(features.columns) == list(inputs(base).columns)
    assert np.isfinite(features.to_numpy()).all()
    # two copies: every family planted twice, from different draws
    once, _ = simulated_anomalies(base, inputs, exclude=excluded, copies=1, seed=1)
    assert len(kinds) > 1.5 * len(once)
    assert base.events.equals(before)  # the scanned data is not touched
    again, kinds_again = simulated_anomalies(base, inputs, exclude=excluded, copies=2, seed=1)
    assert again.equals(features) and np.array_equal(kinds, kinds_again)
    with pytest.raises(ValueError, match="copies"):
        simulated_anomalies(base, inputs, copies=0)
    nothing, none = simulated_anomalies(base, inputs, exclude=L.ANOMALY_TYPES)
    assert len(nothing) == len(none) == 0 and list(nothing.columns) == list(features.columns)


def test_forest_learns_a_type_no_label_shows_from_its_simulation(base: Ratings) -> None:
    # The data holds bots and viewing bursts; only viewing bursts are labeled.
    planted = inject(
        base,
        InjectionConfig(bots=BotConfig(size=0.05), viewing=ViewingConfig(size=0.05)),
        seed=2,
    )
    types = planted.accounts["type"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    y = np.where(types == L.NORMAL, 0.0, 1.0)
    hidden = (types == L.BOT_CONSISTENCY) | (rng.random(len(y)) > 0.4)
    y[hidden] = np.nan
    labeled_types = np.where(np.isnan(y), None, types)
    scores = {}
    for simulate in (False, True):
        detector = SupervisedDetector(n_estimators=100, simulate=simulate, inputs=FAST, seed=0)
        detector.fit(planted.ratings, y, labeled_types)
        assert detector.decision_score_.shape == (planted.ratings.num_users,)
        mask = np.isnan(y) & ((types == L.NORMAL) | (types == L.BOT_CONSISTENCY))
        scores[simulate] = roc_auc_score(
            types[mask] == L.BOT_CONSISTENCY, detector.decision_score_[mask]
        )
    assert detector.simulated_ > 0 and not detector.label_neighbours
    assert "simulated attack accounts" in detector.describe()
    assert scores[True] >= 0.8 and scores[True] > scores[False] + 0.2, scores


def test_default_copies_aim_at_a_number_of_simulated_accounts_per_family() -> None:
    counts = [default_copies(n) for n in (50, 943, 2_000, 6_040, 100_000)]
    assert counts[:2] == [MAX_COPIES, MAX_COPIES] and counts[-1] == 1
    assert counts == sorted(counts, reverse=True)
    for n, copies in zip((2_000, 6_040), counts[2:4], strict=True):
        per_family = copies * FAMILY_SHARE * n  # about the target, never far below it
        assert SIMULATED_PER_FAMILY <= per_family < SIMULATED_PER_FAMILY + FAMILY_SHARE * n


def test_family_share_is_full_configs_typical_family_size() -> None:
    # default_copies reads the planting's family size from this constant: keep it in step
    config = full_config()
    shares = [
        getattr(part, name)
        for part in (getattr(config, f.name) for f in dataclasses.fields(config))
        if dataclasses.is_dataclass(part)
        for name in ("size", "attack_size")
        if hasattr(part, name)
    ]
    assert len(shares) >= 8 and float(np.median(shares)) == FAMILY_SHARE
