"""Shared deterministic fixtures: tiny ratings, their split, and the path to the real ML-100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data.ratings import Ratings, from_raw_events
from graphrec.data.split import Split, leave_one_out

SHARED_ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k"


def make_tiny_ratings(num_users: int = 12, num_items: int = 20, seed: int = 0) -> Ratings:
    """A small random ratings table with raw string ids, titles, years and genres."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(num_users):
        length = int(rng.integers(3, 9))
        for step, item in enumerate(rng.choice(num_items, size=length, replace=False)):
            rows.append(
                (f"u{user}", f"m{item}", float(rng.integers(1, 6)), 1_000_000 + 3600 * step + user)
            )
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    genres = ["Action", "Comedy", "Drama", "Horror"]
    items = pd.DataFrame(
        {
            "title": [f"Movie {i}" for i in range(num_items)],
            "year": [1990 + i % 10 for i in range(num_items)],
            "genres": [
                (genres[i % 4],) if i % 3 else (genres[i % 4], "Drama") for i in range(num_items)
            ],
        },
        index=[f"m{i}" for i in range(num_items)],
    )
    return from_raw_events(frame, items=items, name="tiny")


@pytest.fixture
def tiny_ratings() -> Ratings:
    return make_tiny_ratings()


@pytest.fixture
def tiny_split(tiny_ratings: Ratings) -> Split:
    return leave_one_out(tiny_ratings)


@pytest.fixture
def ml100k_path() -> Path:
    if not (SHARED_ML100K / "ml-100k.inter").is_file():
        pytest.skip("shared ML-100K not found beside the repo")
    return SHARED_ML100K


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory) -> Path:
    """A small dataset with titles and genres, as RecBole atomic files any command can read."""
    from graphrec.data.sources.recbole import write_atomic

    folder = tmp_path_factory.mktemp("tiny_dataset")
    write_atomic(make_tiny_ratings(num_users=80, num_items=40, seed=1), folder, name="tiny")
    return folder


@pytest.fixture
def tiny_train_config():
    """A builder of small, fast training configs over a dataset; later overrides win."""
    from graphrec.config import load_config

    def build(source, *overrides):
        return load_config(
            None,
            [
                f"data.source={source}",
                "data.max_len=8",
                "model.embedding_dim=8",
                "model.num_layers=1",
                "model.num_blocks=1",
                "train.batch_size=16",
                "train.device=cpu",
                "train.patience=100",
                *overrides,
            ],
        )

    return build


DRIFT_MAX_LEN = 10
"""Input length of :func:`drift_target`'s model."""


def drifting_split(num_users: int = 80, num_items: int = 40, length: int = 12) -> Split:
    """Each next item is 1-3 steps after the previous one (mod I): a pattern a target learns."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(num_users):
        item = int(rng.integers(num_items))
        for step in range(length):
            rows.append((f"u{user}", f"m{item}", 4.0, step))
            item = (item + 1 + int(rng.integers(0, 3))) % num_items
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return leave_one_out(from_raw_events(frame))


@pytest.fixture(scope="session")
def drift_target():
    """A tiny graph + SASRec model trained on :func:`drifting_split`, and the split (eval mode).

    Shared by the security tests: an oracle, a gate or a detector over a model that has learned
    a real next-item pattern.
    """
    import torch

    from graphrec.models.batch import iter_batches, training_sequences
    from graphrec.models.factory import ModelSpec
    from graphrec.train.trainer import build_for_split

    split = drifting_split()
    spec = ModelSpec(
        name="graphrec",
        num_users=split.num_users,
        num_items=split.num_items,
        max_len=DRIFT_MAX_LEN,
        embedding_dim=16,
        num_layers=1,
        num_blocks=1,
        num_heads=1,
        dropout=0.1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_for_split(spec, split)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
        data = training_sequences(split, DRIFT_MAX_LEN)
        model.train()
        for _ in range(15):
            for batch in iter_batches(data, 40, shuffle=True):
                loss = model.calculate_loss(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    model.eval()
    return model, split


@pytest.fixture(scope="session")
def drift_detector(drift_target):
    """A :class:`QueryStreamDetector` (lists of 10) over :func:`drift_target`, fitted on 40 % of
    the users' stride-1 replays and calibrated on 30 %; returns ``(detector, streams, model,
    split)`` with ``streams`` the replays of the ``train``, ``cal`` and ``eval`` groups."""
    from graphrec.security.stream import QueryStreamDetector
    from graphrec.security.traffic import benign_streams, split_users

    model, split = drift_target
    train, calibration, evaluation = split_users(np.arange(split.num_users), seed=0)
    streams = {
        name: benign_streams(
            split.ratings.events, users, num_users=split.num_users, max_len=DRIFT_MAX_LEN
        )
        for name, users in (("train", train), ("cal", calibration), ("eval", evaluation))
    }
    popularity = np.bincount(split.train["item"].to_numpy(), minlength=split.num_items)
    detector = QueryStreamDetector(
        model, max_len=DRIFT_MAX_LEN, list_length=10, item_popularity=popularity, num_types=3
    )
    detector.fit(streams["train"], streams["cal"])
    return detector, streams, model, split
