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
