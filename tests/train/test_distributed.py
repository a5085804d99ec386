"""Multi-process training: N gloo processes step like one, resume exactly, evaluate as one.

The end-to-end tests spawn 2 CPU processes (gloo) with ``torch.multiprocessing``; the loss
scaling and the sharded evaluation are also checked in one process, with every rank's share
computed in turn, which is exact and fast.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from graphrec.config import Config
from graphrec.eval.ranking import evaluate_detailed
from graphrec.models.batch import iter_batches, training_sequences
from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.distributed import Distributed, LossModule
from graphrec.train.trainer import build_for_split, model_spec, prepare_split, train

DETERMINISTIC = ("model.dropout=0", "train.bpr_weight=0")
"""No random draw in the loss: N processes then compute the single-process gradient."""


def config_with(config: Config, **train: object) -> Config:
    return replace(config, train=replace(config.train, **train))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world: int, ports: list[int], jobs: list[tuple[Config, Path, bool]]) -> None:
    """One torchrun-like process: the environment torchrun would set, then each training job.

    Each job gets its own port: a rank that finishes a job first must not join the previous
    job's rendezvous store, which rank 0 may still be holding open.
    """
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world)
    )
    for (config, run_dir, resume), port in zip(jobs, ports, strict=True):
        os.environ["MASTER_PORT"] = str(port)
        result = train(config, run_dir, resume=resume, progress=False)
        torch.save(
            {"valid": result.best_valid, "test": result.test, "history": result.history},
            run_dir / f"result_rank{rank}.pt",
        )


def _spawn(jobs: list[tuple[Config, Path, bool]], world: int = 2) -> None:
    ports: list[int] = []
    while len(ports) < len(jobs):  # distinct ports, one per job
        port = _free_port()
        if port not in ports:
            ports.append(port)
    mp.spawn(_worker, args=(world, ports, jobs), nprocs=world, join=True)


def test_rows_partition_and_loss_weights_average_to_one(tiny_dataset_dir, tiny_train_config):
    for world in (1, 2, 3, 7):
        shares = [Distributed(rank, world).rows(10) for rank in range(world)]
        assert [i for s in shares for i in range(s.start, s.stop)] == list(range(10))
        assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1
    split = prepare_split(tiny_train_config(tiny_dataset_dir))
    batch = next(iter_batches(training_sequences(split, 8), 13))
    for world in (2, 3, 20):  # 20 > 13 rows: seven processes borrow a row with weight 0
        weights = [Distributed(rank, world).share(batch)[1] for rank in range(world)]
        assert sum(weights) / world == pytest.approx(1.0)
    local, weight = Distributed(19, 20).share(batch)
    assert len(local) == 1 and weight == 0.0


def test_scaled_share_gradients_average_to_the_global_gradient(tiny_dataset_dir, tiny_train_config):
    config = tiny_train_config(tiny_dataset_dir, *DETERMINISTIC)
    split = prepare_split(config)
    torch.manual_seed(0)
    model = build_for_split(model_spec(config, split), split, config.graph.edge_weight)
    loss_module = LossModule(model).train()
    batch = next(iter_batches(training_sequences(split, 8), 13, shuffle=True))

    def gradient(local, weight: float) -> torch.Tensor:
        model.zero_grad()
        (loss_module(local) * weight).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    expected = gradient(batch, 1.0)
    for world in (2, 3, 20):
        shares = [Distributed(rank, world).share(batch) for rank in range(world)]
        averaged = sum(gradient(local, weight) for local, weight in shares) / world  # DDP's mean
        # float32 sums in another order: a relative error of a few ulps of the largest entry
        torch.testing.assert_close(averaged, expected, rtol=1e-5, atol=1e-7)


class _InProcessShards:
    """Rank ``rank`` of ``world`` whose gather returns the shares computed before it."""

    def __init__(self, rank: int, world: int, parts: dict[int, object]) -> None:
        self.place, self.parts = Distributed(rank, world), parts

    def rows(self, n: int) -> slice:
        return self.place.rows(n)

    def gather(self, value: object) -> list[object]:
        self.parts[self.place.rank] = value
        return [self.parts.get(rank, value) for rank in range(self.place.world_size)]


def test_sharded_evaluation_equals_one_process(tiny_dataset_dir, tiny_train_config):
    config = tiny_train_config(tiny_dataset_dir)
    split = prepare_split(config)
    torch.manual_seed(0)
    model = build_for_split(model_spec(config, split), split, config.graph.edge_weight)
    options = {"ks": (1, 5, 10), "batch_size": 7, "max_len": 8}
    whole = evaluate_detailed(model, split, "test", **options)
    for world in (2, 3, len(whole.users) + 2):  # the last leaves two shares empty
        parts: dict[int, object] = {}
        for rank in reversed(range(world)):  # rank 0 last: its gather then sees every share
            merged = evaluate_detailed(
                model, split, "test", **options, shard=_InProcessShards(rank, world, parts)
            )
        assert merged.metrics.keys() == whole.metrics.keys()
        for name, value in whole.metrics.items():
            assert merged.metrics[name] == pytest.approx(value, rel=1e-6), name
        np.testing.assert_array_equal(merged.top_items, whole.top_items)
        np.testing.assert_array_equal(merged.users, whole.users)


def test_two_gloo_processes_train_like_one(tiny_dataset_dir, tmp_path, tiny_train_config):
    config = tiny_train_config(tiny_dataset_dir, "train.epochs=2", *DETERMINISTIC)
    single = train(config, tmp_path / "one", progress=False)
    assert not torch.distributed.is_initialized()  # one process: nothing initialised
    _spawn([(config, tmp_path / "two", False)])
    one = load_checkpoint(tmp_path / "one" / "last.pt")["model_state"]
    two = load_checkpoint(tmp_path / "two" / "last.pt")["model_state"]
    for name, tensor in one.items():
        other = two[name]
        if name.endswith("attention.in_proj_bias"):
            # The key bias shifts all of a query's scores equally and softmax ignores it: its
            # true gradient is 0, and Adam scales both runs' float noise up to lr-sized steps.
            d = len(tensor) // 3
            tensor, other = (
                torch.cat([tensor[:d], tensor[2 * d :]]),
                torch.cat([other[:d], other[2 * d :]]),
            )
        # Gradients equal up to float32 summation order, 10 AdamW steps: observed <= 1e-7.
        torch.testing.assert_close(other, tensor, rtol=1e-5, atol=1e-6, msg=name)
    ranks = [torch.load(tmp_path / "two" / f"result_rank{r}.pt") for r in range(2)]
    assert ranks[0]["valid"] == ranks[1]["valid"]  # every rank got the one merged result
    for name, value in single.best_valid.items():
        assert ranks[0]["valid"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for logged, expected in zip(ranks[0]["history"], single.history, strict=True):
        assert logged["train"] == pytest.approx(expected["train"], rel=1e-5)  # the global loss
    events = [len(list((tmp_path / run).glob("events.out.tfevents.*"))) for run in ("one", "two")]
    assert events[0] == events[1]  # rank 0 alone writes TensorBoard files
    assert (tmp_path / "two" / "metrics.json").is_file()


def test_resume_under_ddp_continues_exactly(tiny_dataset_dir, tmp_path, tiny_train_config):
    # Dropout and BPR negatives on: each rank's own RNG stream must resume where it stopped.
    config = tiny_train_config(tiny_dataset_dir, "model.dropout=0.2")
    jobs = [
        (config_with(config, epochs=3), tmp_path / "straight", False),
        (config_with(config, epochs=1), tmp_path / "resumed", False),
        (config_with(config, epochs=3), tmp_path / "resumed", True),
    ]
    _spawn(jobs)
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "last.pt")
    for name, tensor in straight["model_state"].items():
        assert torch.equal(tensor, resumed["model_state"][name]), name
    rank_states = resumed["rank_rng_states"]
    assert len(rank_states) == 2 and not torch.equal(
        rank_states[0]["torch"], rank_states[1]["torch"]
    )
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    results = [torch.load(tmp_path / run / "result_rank0.pt") for run in ("straight", "resumed")]
    assert results[0]["test"] == results[1]["test"]


def test_bf16_precision_runs_and_bad_values_are_refused(
    tiny_dataset_dir, tmp_path, tiny_train_config
):
    # GAT: the sparse-matrix propagation of LightGCN and SAGE has no bfloat16 kernel on CPU
    config = tiny_train_config(
        tiny_dataset_dir, "train.epochs=1", "train.precision=bf16", "model.encoder=gat"
    )
    result = train(config, tmp_path / "bf16", progress=False)
    assert np.isfinite(result.history[0]["train"])
    with pytest.raises(ValueError, match="train.precision.*'fp16'"):
        train(tiny_train_config(tiny_dataset_dir, "train.precision=fp16"), tmp_path / "bad")


def test_compiled_training_runs(tiny_dataset_dir, tmp_path, tiny_train_config):
    # about 20 s on 2 busy CPU cores, nearly all of it compiling (graph breaks included)
    result = train(
        tiny_train_config(tiny_dataset_dir, "train.epochs=1", "train.compile=true"),
        tmp_path / "compiled",
        progress=False,
    )
    assert np.isfinite(result.history[0]["train"])
