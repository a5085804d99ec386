"""Ctrl-C mid-epoch saves a checkpoint that resumes to exactly the uninterrupted run."""

from __future__ import annotations

import logging
import signal

import pytest
import torch

from graphrec.train import trainer
from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.interrupt import TrainingInterrupted
from graphrec.train.trainer import train


def test_sigint_mid_epoch_then_resume_equals_uninterrupted(
    tiny_dataset_dir, tmp_path, tiny_train_config, monkeypatch
):
    config = tiny_train_config(tiny_dataset_dir, "train.epochs=3")
    straight = train(config, tmp_path / "a", progress=False)

    real_batches = trainer.iter_batches
    calls = {"n": 0}

    def batches_with_ctrl_c(*args, **kwargs):
        calls["n"] += 1
        for index, batch in enumerate(real_batches(*args, **kwargs)):
            if calls["n"] == 2 and index == 1:  # epoch 2, before its second batch trains
                signal.raise_signal(signal.SIGINT)
            yield batch

    monkeypatch.setattr(trainer, "iter_batches", batches_with_ctrl_c)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(config, tmp_path / "b", progress=False)
    saved = load_checkpoint(tmp_path / "b" / "last.pt")
    assert saved["epoch"] == 1 and saved["partial_epoch"]["batch"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    monkeypatch.setattr(trainer, "iter_batches", real_batches)
    resumed = train(config, tmp_path / "b", resume=True, progress=False)
    last_a = load_checkpoint(tmp_path / "a" / "last.pt")["model_state"]
    last_b = load_checkpoint(tmp_path / "b" / "last.pt")["model_state"]
    for name, tensor in last_a.items():
        assert torch.equal(tensor, last_b[name]), name
    assert resumed.test == straight.test
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train"] == pytest.approx(b["train"])  # the epoch's loss counts both halves


def test_interrupt_in_the_first_epoch_leaves_a_checkpoint(
    tiny_dataset_dir, tmp_path, tiny_train_config, monkeypatch
):
    real_batches = trainer.iter_batches

    def ctrl_c_at_once(*args, **kwargs):
        for batch in real_batches(*args, **kwargs):
            signal.raise_signal(signal.SIGINT)
            yield batch

    monkeypatch.setattr(trainer, "iter_batches", ctrl_c_at_once)
    with pytest.raises(TrainingInterrupted, match="epoch 1 after batch 1"):
        train(tiny_train_config(tiny_dataset_dir, "train.epochs=2"), tmp_path / "r", progress=False)
    assert load_checkpoint(tmp_path / "r" / "last.pt")["partial_epoch"]["batch"] == 1


def test_one_short_line_per_epoch_and_early_stopping_is_announced(
    tiny_dataset_dir, tmp_path, tiny_train_config, caplog
):
    config = tiny_train_config(
        tiny_dataset_dir, "train.epochs=30", "train.patience=1", "train.lr=0.3"
    )
    with caplog.at_level(logging.INFO, logger="graphrec.train.trainer"):
        result = train(config, tmp_path / "r", progress=False)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == len(result.history)
    assert all(len(line) < 160 and "valid ndcg@10" in line for line in lines)
    assert lines[0].startswith("epoch 1/30: train ")
    assert len(result.history) < 30  # patience 1 stops it
    stops = [r.getMessage() for r in caplog.records if "early stopping" in r.getMessage()]
    assert len(stops) == 1 and f"best epoch {result.best_epoch}" in stops[0]
