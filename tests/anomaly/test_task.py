"""The two-step task: who is labeled, what is held out, what the files hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphrec.anomaly.labels import NORMAL, STEP1_TYPES, STEP2_ONLY_TYPES
from graphrec.anomaly.task import (
    TEST,
    TRAIN,
    make_task,
    split_task,
    summary,
    without_time,
    write_task,
)
from graphrec.data.ratings import Ratings
from graphrec.data.sources.tabular import read_table
from graphrec.data.synthetic import generate


@pytest.fixture(scope="module")
def small() -> Ratings:
    return generate("ml-100k", seed=0, scale=0.3)  # ~280 users, 30k ratings


def test_step1_labels_every_training_account_and_stratifies_types(small: Ratings) -> None:
    task = make_task(small, 1, seed=0, test_share=0.3)
    truth = task.truth
    assert len(truth) == task.ratings.num_users
    assert set(truth["split"]) == {TRAIN, TEST}
    assert set(truth["type"]) - {NORMAL} <= set(STEP1_TYPES)
    for kind, group in truth.groupby("type"):
        if len(group) >= 2:  # every type with two members appears on both sides
            assert set(group["split"]) == {TRAIN, TEST}, kind
    assert abs((truth["split"] == TEST).mean() - 0.3) < 0.05
    labels = task.labels
    assert set(labels.columns) == {"user_id", "label", "type"}
    assert len(labels) == (truth["split"] == TRAIN).sum()
    assert set(labels["user_id"]).isdisjoint(truth.loc[truth["split"] == TEST, "user_id"])
    # raw ids are anonymized: no "fake_" names give the answer away
    assert not truth["user_id"].str.contains("fake").any()


def test_step2_labels_only_step1_types_and_a_small_share(small: Ratings) -> None:
    task = make_task(small, 2, seed=0, label_share=0.1)
    truth = task.truth
    assert set(STEP2_ONLY_TYPES) <= set(truth["type"])
    labeled = truth[truth["split"] == TRAIN]
    assert set(labeled["type"]) <= set(STEP1_TYPES) | {NORMAL}
    assert labeled["label"].sum() >= 1
    assert abs(len(labeled) / len(truth) - 0.1) < 0.03
    unseen = truth[truth["type"].isin(STEP2_ONLY_TYPES)]
    assert (unseen["split"] == TEST).all()


def test_label_series_hides_every_evaluation_account(small: Ratings) -> None:
    task = make_task(small, 1, seed=3)
    y = task.label_series()
    test = (task.truth["split"] == TEST).to_numpy()
    assert y[test].isna().all()
    np.testing.assert_array_equal(y[~test].to_numpy(), task.truth["label"].to_numpy()[~test])


def test_public_is_a_stratified_subset_of_the_evaluation_accounts(small: Ratings) -> None:
    task = make_task(small, 2, seed=1, public_share=0.3)
    test_ids = set(task.truth.loc[task.truth["split"] == TEST, "user_id"])
    assert set(task.public) <= test_ids
    assert abs(len(task.public) / len(test_ids) - 0.3) < 0.05
    table = summary(task)
    assert table.loc[NORMAL, "accounts"] == (task.truth["type"] == NORMAL).sum()
    assert (table["public"] <= table["evaluation"]).all()


def test_same_seed_same_task_and_steps_differ(small: Ratings) -> None:
    a, b = make_task(small, 1, seed=5), make_task(small, 1, seed=5)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    np.testing.assert_array_equal(a.public, b.public)
    step2 = make_task(small, 2, seed=5)
    assert len(step2.truth) != len(a.truth) or not a.truth["type"].equals(step2.truth["type"])


def test_files_round_trip_with_and_without_timestamps(small: Ratings, tmp_path) -> None:
    task = make_task(small, 1, seed=0)
    paths = write_task(task, tmp_path / "with")
    assert {p.name for p in paths.values()} == {
        "ratings.csv",
        "labels.csv",
        "truth.csv",
        "public.csv",
    }
    back = read_table(paths["ratings"])
    assert back.has_timestamps and back.num_events == task.ratings.num_events
    assert set(back.user_ids) == set(task.truth["user_id"])
    truth = pd.read_csv(paths["truth"], dtype={"user_id": str})
    assert list(truth.columns) == ["user_id", "label", "type", "split"]
    public = pd.read_csv(paths["public"], dtype={"user_id": str})
    assert set(public["user_id"]) == set(task.public)

    paths = write_task(task, tmp_path / "without", timestamps=False)
    header = paths["ratings"].read_text().splitlines()[0]
    assert header == "user_id,item_id,rating"
    assert not read_table(paths["ratings"]).has_timestamps
    rows = pd.read_csv(paths["ratings"], dtype={"user_id": str, "item_id": str})
    order = list(zip(rows["user_id"], rows["item_id"], strict=True))
    assert order == sorted(order)  # sorted by ids: the row order says nothing about time


def test_hidden_types_never_get_a_label(small: Ratings) -> None:
    task = make_task(small, 1, seed=0)
    for hidden in ("shilling_push", "bot_consistency"):
        split = split_task(task.injected, 2, seed=5, label_share=0.3, hidden_types=(hidden,))
        labeled = split.truth[split.truth["split"] == TRAIN]
        assert hidden not in set(labeled["type"]) and len(labeled) > 0
        sizes = split.truth["type"].value_counts()
        others = set(sizes[sizes >= 2].index) - {hidden, "normal"}
        assert others <= set(labeled["type"])  # every other type (of 2+ accounts) shows a label
        y = split.label_series().to_numpy()
        assert np.isnan(y[(split.truth["type"] == hidden).to_numpy()]).all()
        present = set(split.truth["type"]) - {"normal"}
        assert set(split.unlabeled_types) == present - set(labeled["type"])
        assert hidden in split.unlabeled_types
    assert task.unlabeled_types == ()  # step 1 labels every type


def test_without_time_keeps_the_events_and_no_order(small: Ratings) -> None:
    plain = without_time(small, seed=1)
    assert not plain.has_timestamps and plain.num_events == small.num_events
    pd.testing.assert_frame_equal(
        plain.events[["user", "item", "rating"]], small.events[["user", "item", "rating"]]
    )
    assert sorted(plain.events["timestamp"]) == list(range(small.num_events))
    by_time = small.events["timestamp"].rank(method="first").to_numpy()
    assert abs(np.corrcoef(by_time, plain.events["timestamp"])[0, 1]) < 0.05


@pytest.mark.parametrize("kwargs", [{"step": 3}, {"step": 1, "test_share": 1.0}])
def test_bad_arguments_are_named(small: Ratings, kwargs) -> None:
    with pytest.raises(ValueError, match="step|test_share"):
        make_task(small, **kwargs)
