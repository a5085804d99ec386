"""What a training run carries between epochs and across a resume, and how it is saved.

``RunState`` is the loop's bookkeeping (epoch, best epoch and metric, patience, history, the
position inside an interrupted epoch); :func:`save_run` writes it with the model, the optimizer
and every process's RNG state into a checkpoint, and :func:`restore_run` puts it all back, so a
resumed run continues exactly. :func:`epoch_line` is the one log line per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphrec.config import Config, to_dict
from graphrec.models.factory import ModelSpec
from graphrec.train.checkpoint import git_sha, save_checkpoint
from graphrec.train.distributed import Distributed
from graphrec.train.interrupt import EpochProgress
from graphrec.train.seeding import rng_state

SELECTION_METRIC = "ndcg@10"
"""The validation metric that picks the best epoch and drives early stopping."""


@dataclass
class RunState:
    epoch: int = 0
    best_epoch: int = 0
    best_metric: float = -1.0
    best_valid: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    elapsed_before: float = 0.0
    partial: EpochProgress | None = None
    """How far the unfinished epoch ``epoch + 1`` got before a Ctrl-C (None: none)."""


def epoch_line(record: dict[str, float], epochs: int, state: RunState) -> str:
    """One short log line per epoch; the full record goes to TensorBoard and metrics.json."""
    losses = ", ".join(
        f"{name} {record[name]:.4f}"
        for name in record
        if name not in ("epoch", "epoch_seconds", "elapsed_seconds") and "/" not in name
    )
    text = f"epoch {int(record['epoch'])}/{epochs}: {losses}"
    key = f"valid/{SELECTION_METRIC}"
    if key in record:
        text += (
            f" | valid {SELECTION_METRIC} {record[key]:.4f} "
            f"(best {state.best_metric:.4f} @ {state.best_epoch})"
        )
    return text + f" | {record['epoch_seconds']:.1f} s"


def save_run(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    config: Config,
    spec: ModelSpec,
    state: RunState,
    ctx: Distributed,
) -> None:
    """Rank 0 writes the checkpoint; with ``optimizer`` (``last.pt``) every process must call it.

    ``last.pt`` carries every process's RNG state (``rank_rng_states`` under DDP), so each
    process of a resumed run continues its own dropout and negative-sampling stream.
    """
    rng_states = ctx.gather(rng_state()) if optimizer is not None else []
    partial = state.partial
    partial_totals = ctx.gather(partial.totals) if optimizer is not None and partial else []
    if not ctx.is_main:
        return
    payload = {
        "model_spec": spec.to_dict(),
        "model_state": model.state_dict(),
        "config": to_dict(config),
        "git_sha": git_sha(),
        "seed": config.seed,
        "epoch": state.epoch if optimizer is not None else state.best_epoch,
        "best_epoch": state.best_epoch,
        "best_metric": state.best_metric,
        "best_valid": state.best_valid,
    }
    if optimizer is not None:  # only last.pt carries what resuming needs
        payload.update(
            optimizer_state=optimizer.state_dict(),
            rng_state=rng_states[0],
            stale=state.stale,
            history=state.history,
            elapsed=state.history[-1]["elapsed_seconds"] if state.history else 0.0,
        )
        if partial is not None:  # the loss sums are each process's own
            payload["elapsed"] = state.elapsed_before
            payload["partial_epoch"] = {
                "batch": partial.batch,
                "steps": partial.steps,
                "totals": partial_totals,
            }
        if ctx.enabled:
            payload["rank_rng_states"] = rng_states
    save_checkpoint(path, payload)


def restore_run(
    checkpoint: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    ctx: Distributed,
    seed: int,
) -> RunState:
    model.load_state_dict(checkpoint["model_state"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer_state"])
    rng_states = checkpoint.get("rank_rng_states", [checkpoint["rng_state"]])
    ctx.restore_rng(rng_states, seed + checkpoint["epoch"])
    partial = checkpoint.get("partial_epoch")
    if partial is not None:
        totals = partial["totals"]
        own = totals[ctx.rank] if len(totals) == ctx.world_size else totals[0]
        partial = EpochProgress(partial["batch"], partial["steps"], dict(own))
    return RunState(
        epoch=checkpoint["epoch"],
        best_epoch=checkpoint["best_epoch"],
        best_metric=checkpoint["best_metric"],
        best_valid=checkpoint["best_valid"],
        stale=checkpoint["stale"],
        history=checkpoint["history"],
        elapsed_before=checkpoint["elapsed"],
        partial=partial,
    )
