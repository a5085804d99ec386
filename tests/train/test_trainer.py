"""Training: resume equals an uninterrupted run, checkpoints carry their metadata, TB tags exist."""

from __future__ import annotations

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.trainer import train


def test_resume_equals_uninterrupted(tiny_dataset_dir, tmp_path, tiny_train_config):
    straight = train(
        tiny_train_config(tiny_dataset_dir, "train.epochs=3"), tmp_path / "a", progress=False
    )
    train(tiny_train_config(tiny_dataset_dir, "train.epochs=1"), tmp_path / "b", progress=False)
    resumed = train(
        tiny_train_config(tiny_dataset_dir, "train.epochs=3"),
        tmp_path / "b",
        resume=True,
        progress=False,
    )
    last_a = load_checkpoint(tmp_path / "a" / "last.pt")["model_state"]
    last_b = load_checkpoint(tmp_path / "b" / "last.pt")["model_state"]
    for name, tensor in last_a.items():
        assert torch.equal(tensor, last_b[name]), name
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.test == straight.test


def test_checkpoint_metadata_and_tensorboard_tags(tiny_dataset_dir, tmp_path, tiny_train_config):
    result = train(
        tiny_train_config(tiny_dataset_dir, "train.epochs=2"), tmp_path / "run", progress=False
    )
    checkpoint = load_checkpoint(tmp_path / "run" / "best.pt")
    for key in ("model_spec", "model_state", "config", "git_sha", "seed", "epoch", "best_metric"):
        assert key in checkpoint
    assert checkpoint["config"]["data"]["max_len"] == 8
    assert (tmp_path / "run" / "metrics.json").is_file()
    accumulator = EventAccumulator(str(tmp_path / "run"))
    accumulator.Reload()
    scalars = set(accumulator.Tags()["scalars"])
    for tag in ("losses/train", "losses/ce", "losses/bpr", "charts/learning_rate", "valid/ndcg@10"):
        assert tag in scalars
    assert (tmp_path / "run" / "projector_config.pbtxt").is_file()
    metadata = next((tmp_path / "run").rglob("metadata.tsv")).read_text().splitlines()
    assert metadata[0] == "title\tgenres" and "Movie" in metadata[1]
    assert list((tmp_path / "run").rglob("events.out.tfevents.*"))
    assert 0.0 <= result.test["ndcg@10"] <= 1.0


def test_graph_never_sees_valid_or_test_edges(tiny_dataset_dir, tmp_path, tiny_train_config):
    result = train(
        tiny_train_config(tiny_dataset_dir, "train.epochs=1"), tmp_path / "run", progress=False
    )
    split, model = result.split, result.model
    edges = set(zip(model.edge_index[0].tolist(), model.edge_index[1].tolist(), strict=True))
    for frame in (split.valid, split.test):
        for user, item in frame[["user", "item"]].itertuples(index=False):
            in_train = ((split.train.user == user) & (split.train.item == item)).any()
            assert in_train or (user, split.num_users + item) not in edges


def test_popular_model_needs_no_training(tiny_dataset_dir, tmp_path, tiny_train_config):
    result = train(
        tiny_train_config(tiny_dataset_dir, "model.name=popular"), tmp_path / "pop", progress=False
    )
    assert result.history == []
    assert result.test["hit@20"] > 0
