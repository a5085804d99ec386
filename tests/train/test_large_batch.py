"""Amortized training (few large steps, sampled softmax) learns what plain training learns."""

from __future__ import annotations

import pandas as pd
import pytest

from graphrec.config import load_config
from graphrec.data.ratings import from_raw_events
from graphrec.data.sources.recbole import write_atomic
from graphrec.train.trainer import train


@pytest.fixture(scope="module")
def cyclic_dir(tmp_path_factory):
    """Item i is always followed by item i + 1: a next-item pattern both settings must learn."""
    num_users, num_items, length = 24, 20, 10
    rows = [
        (f"u{u}", f"m{(u * 7 + t) % num_items}", 4.0, t)
        for u in range(num_users)
        for t in range(length)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    folder = tmp_path_factory.mktemp("cyclic")
    write_atomic(from_raw_events(frame), folder, name="cyclic")
    return folder


def test_large_batches_with_sampled_softmax_match_plain_training(cyclic_dir, tmp_path):
    common = [
        f"data.source={cyclic_dir}",
        "data.max_len=10",
        "model.embedding_dim=16",
        "model.num_layers=1",
        "model.num_blocks=1",
        "model.dropout=0",
        "train.device=cpu",
        "train.epochs=25",
        "train.patience=25",
    ]
    plain = train(
        load_config(None, [*common, "train.batch_size=8", "train.lr=0.01", "train.loss=full"]),
        tmp_path / "plain",
        progress=False,
    )
    amortized = train(  # one step per epoch: 3x fewer propagations, sampled softmax
        load_config(
            None,
            [
                *common,
                "train.batch_size=24",
                "train.lr=0.025",
                "train.loss=sampled",
                "train.negatives=8",
            ],
        ),
        tmp_path / "amortized",
        progress=False,
    )
    assert plain.test["hit@5"] >= 0.9
    assert amortized.test["hit@5"] >= 0.9
    assert abs(plain.test["ndcg@10"] - amortized.test["ndcg@10"]) <= 0.1
