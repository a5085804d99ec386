"""Training: whole sequences per user, early stopping on validation NDCG@10, exact resume.

``train(config)`` is a plain function returning a :class:`TrainResult`; the CLI only loads the
config and calls it. Every epoch writes ``last.pt`` (model, optimizer and RNG states, so
``resume=True`` continues exactly where an interrupted run stopped) and, when validation NDCG@10
improves, ``best.pt``. The graph the encoder sees is built from the TRAIN split only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from graphrec.config import Config, from_dict
from graphrec.data.load import load_ratings
from graphrec.data.split import Split, leave_one_out
from graphrec.eval.ranking import evaluate
from graphrec.graph.rating_graph import RatingGraph
from graphrec.graph.transitions import with_transitions
from graphrec.io import write_json
from graphrec.models.batch import iter_batches, training_sequences
from graphrec.models.factory import ModelSpec, build_model
from graphrec.models.recommender import resolve_loss
from graphrec.train import distributed
from graphrec.train.checkpoint import load_checkpoint
from graphrec.train.distributed import Distributed, training_module
from graphrec.train.interrupt import (
    EpochProgress,
    InterruptFlag,
    TrainingInterrupted,
    capture_sigint,
)
from graphrec.train.run_state import (
    SELECTION_METRIC,
    RunState,
    epoch_line,
    restore_run,
    save_run,
)
from graphrec.train.seeding import seed_everything
from graphrec.train.tensorboard import (
    log_hparams,
    log_item_projector,
    log_scalars,
    open_writer,
    run_name,
)

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, nn.Module, dict[str, float]], None]


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    model: nn.Module
    split: Split
    spec: ModelSpec
    best_epoch: int
    best_valid: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; anything else is passed to torch (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def model_spec(config: Config, split: Split) -> ModelSpec:
    m = config.model
    return ModelSpec(
        name=m.name,
        num_users=split.num_users,
        num_items=split.num_items,
        max_len=config.data.max_len,
        encoder=m.encoder,
        backend=m.backend,
        head=m.head,
        embedding_dim=m.embedding_dim,
        num_layers=m.num_layers,
        num_blocks=m.num_blocks,
        num_heads=m.num_heads,
        dropout=m.dropout,
        fuse_user=m.fuse_user,
        bpr_weight=config.train.bpr_weight,
        loss=resolve_loss(config.train.loss, split.num_items),
        negatives=config.train.negatives,
        gbce_t=config.train.gbce_t,
        sample_power=config.train.sample_power,
        item_transitions=config.graph.item_transitions,
        align_weight=config.train.align_weight,
        align_temperature=config.train.align_temperature,
    )


def prepare_split(config: Config) -> Split:
    """Load the configured data and split it (leave-one-out by time)."""
    ratings = load_ratings(config.data.source, seed=config.data.seed)
    return leave_one_out(ratings, min_events=config.data.min_events)


def build_for_split(
    spec: ModelSpec, split: Split, edge_weight: str = "none", device: torch.device | str = "cpu"
) -> nn.Module:
    """A model for ``split`` on ``device``, with the TRAIN graph attached when it uses one."""
    counts = np.bincount(split.train["item"].to_numpy(np.int64), minlength=split.num_items)
    model = build_model(spec, train_counts=counts).to(device)
    if spec.uses_graph:
        graph = RatingGraph.from_ratings(split.train_ratings())
        edge_index, weight = graph.edge_index(weight=None if edge_weight == "none" else edge_weight)
        if spec.item_transitions:
            edge_index, weight = with_transitions(edge_index, weight, split)
        model.attach_graph(edge_index.to(device), None if weight is None else weight.to(device))
    return model


PRECISIONS = ("fp32", "bf16")
"""Values of ``train.precision``: float32, or bfloat16 autocast of the training forward pass."""
WINDOWS = ("last", "random")
"""Values of ``train.window``: the most recent training window, or one drawn per epoch."""


def train(
    config: Config,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    split: Split | None = None,
    progress: bool = True,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Train the configured model, keep the best epoch by validation NDCG@10, test it.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this with the same arguments: each
    computes its share of every global batch of ``train.batch_size`` users under DDP and ranks
    its share of the validation and test users; all get the merged metrics, so all stop at the
    same epoch. Only rank 0 writes the run folder and logs (:mod:`graphrec.train.distributed`).

    Args:
        config: the resolved root config.
        run_dir: run folder (default ``runs/<exp>__<model>__<seed>__<time>``).
        resume: continue from ``run_dir/last.pt`` when it exists.
        split: reuse an already loaded split (benchmarks compare models on one split).
        progress: show a progress bar per epoch.
        on_epoch_end: called after each epoch's validation with (epoch, model, valid metrics),
            on every process.
    """
    if config.train.window not in WINDOWS:
        raise ValueError(f"train.window must be one of {WINDOWS}, got {config.train.window!r}")
    if config.train.precision not in PRECISIONS:
        raise ValueError(
            f"train.precision must be one of {PRECISIONS}, got {config.train.precision!r}"
        )
    if not isinstance(config.train.compile, bool):
        raise ValueError(f"train.compile must be true or false, got {config.train.compile!r}")
    with (
        distributed.launch(resolve_device(config.train.device)) as (ctx, device),
        capture_sigint() as interrupted,
    ):
        return _train(
            config, run_dir, ctx, device, resume, split, progress, on_epoch_end, interrupted
        )


def _train(
    config: Config,
    run_dir: Path | None,
    ctx: Distributed,
    device: torch.device,
    resume: bool,
    split: Split | None,
    progress: bool,
    on_epoch_end: EpochCallback | None,
    interrupted: InterruptFlag,
) -> TrainResult:
    start = time.perf_counter()
    seed_everything(config.seed)
    split = split if split is not None else prepare_split(config)
    spec = model_spec(config, split)
    run_dir = ctx.broadcast(  # the default name holds the time: rank 0's is the one
        Path(run_dir) if run_dir else Path("runs") / run_name(config.name, spec.label, config.seed)
    )
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    model = build_for_split(spec, split, config.graph.edge_weight, device)
    trainable = getattr(model, "trainable", True) and any(True for _ in model.parameters())
    optimizer = (
        torch.optim.AdamW(
            model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
        )
        if trainable
        else None
    )
    state = RunState()
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    # Rank 0 reads checkpoints and sends them: other nodes need no shared file system.
    found = resume and ctx.is_main and last_path.is_file()
    checkpoint = ctx.broadcast(load_checkpoint(last_path) if found else None)
    if checkpoint is not None:
        state = restore_run(checkpoint, model, optimizer, ctx, config.seed)
        if ctx.is_main:
            inside = f", batch {state.partial.batch}" if state.partial else ""
            log.info("resumed %s after epoch %d%s", run_dir, state.epoch, inside)
    else:
        ctx.seed_rank(config.seed)
    writer = open_writer(run_dir) if ctx.is_main else None
    step = training_module(model, ctx, device, compile=config.train.compile) if trainable else None
    data = training_sequences(split, config.data.max_len)
    epochs = config.train.epochs if trainable else 0

    def stop() -> bool:  # every process stops at the same batch
        return ctx.summed({"stop": float(interrupted.raised)})["stop"] > 0

    for epoch in range(state.epoch + 1, epochs + 1):
        if state.stale >= config.train.patience:
            if ctx.is_main:
                log.info(
                    "early stopping after epoch %d: no valid %s gain for %d epochs; best epoch "
                    "%d (%.4f)",
                    state.epoch,
                    SELECTION_METRIC,
                    state.stale,
                    state.best_epoch,
                    state.best_metric,
                )
            break
        epoch_start = time.perf_counter()
        if config.train.window == "random":  # seeded by (seed, epoch): a resumed run redraws it
            data = training_sequences(
                split, config.data.max_len, np.random.default_rng([config.seed, epoch])
            )
        done = _train_epoch(
            step, model, optimizer, data, config, epoch, device, ctx, progress, state.partial, stop
        )
        if done.batch < _batches_per_epoch(data, config):
            state.partial = done
            state.elapsed_before += time.perf_counter() - start
            save_run(last_path, model, optimizer, config, spec, state, ctx)
            raise TrainingInterrupted(
                f"interrupted in epoch {epoch} after batch {done.batch}; {last_path} saved. "
                f"Continue with the same command and --resume --run-dir {run_dir}"
            )
        state.partial = None
        losses = ctx.summed(done.totals)
        losses = {name: value / max(done.steps, 1) for name, value in losses.items()}
        record = {"epoch": epoch, "epoch_seconds": time.perf_counter() - epoch_start, **losses}
        valid = None
        if epoch % config.train.eval_every == 0 or epoch == epochs:
            valid = _evaluate(model, split, "valid", config, device, ctx)
            record.update({f"valid/{k}": v for k, v in valid.items()})
            if on_epoch_end is not None:
                on_epoch_end(epoch, model, valid)
            if valid[SELECTION_METRIC] > state.best_metric:
                state.best_metric, state.best_epoch, state.stale = valid[SELECTION_METRIC], epoch, 0
                state.best_valid = valid
                save_run(best_path, model, None, config, spec, state, ctx)
            else:
                state.stale += 1
        record["elapsed_seconds"] = time.perf_counter() - start + state.elapsed_before
        state.history.append(record)
        state.epoch = epoch
        save_run(last_path, model, optimizer, config, spec, state, ctx)
        if ctx.is_main:
            log_scalars(writer, "losses", losses, epoch)
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], epoch)
            writer.add_scalar("charts/epoch_seconds", record["epoch_seconds"], epoch)
            if valid is not None:
                log_scalars(writer, "valid", valid, epoch)
            log.info(epoch_line(record, epochs, state))
        if epoch < epochs and stop():  # Ctrl-C during the epoch's last batch or validation
            raise TrainingInterrupted(
                f"interrupted after epoch {epoch}; {last_path} saved. Continue with the same "
                f"command and --resume --run-dir {run_dir}"
            )

    if trainable:
        found = ctx.is_main and best_path.is_file()
        best = ctx.broadcast(load_checkpoint(best_path)["model_state"] if found else None)
        if best is not None:
            model.load_state_dict(best)
    else:
        state.best_valid = _evaluate(model, split, "valid", config, device, ctx)
        save_run(best_path, model, None, config, spec, state, ctx)
    test = _evaluate(model, split, "test", config, device, ctx)
    seconds = time.perf_counter() - start + state.elapsed_before
    if ctx.is_main:
        log_scalars(writer, "test", test, max(state.best_epoch, 0))
        log_hparams(writer, _hparams(config, spec), {f"test_{k}": v for k, v in test.items()})
        _log_projector(writer, model, split, max(state.best_epoch, 0))
        writer.close()
        write_json(
            run_dir / "metrics.json",
            {
                "best_epoch": state.best_epoch,
                "valid": state.best_valid,
                "test": test,
                "seconds": seconds,
                "history": state.history,
            },
        )
    return TrainResult(
        run_dir=run_dir,
        model=model,
        split=split,
        spec=spec,
        best_epoch=state.best_epoch,
        best_valid=state.best_valid,
        test=test,
        history=state.history,
        seconds=seconds,
    )


def _train_epoch(
    step: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    config: Config,
    epoch: int,
    device: torch.device,
    ctx: Distributed,
    progress: bool,
    resume_at: EpochProgress | None,
    stop: Callable[[], bool],
) -> EpochProgress:
    """One pass in global batches of ``train.batch_size`` users; returns how far it got (all
    batches, or fewer when ``stop()`` turned true at a batch boundary) and this process's loss
    sums.

    ``step`` is the loss module (maybe DDP, maybe compiled) over ``model``. Each process trains
    on its share of each batch with its loss scaled as :meth:`Distributed.share` explains, and
    the logged losses are the global batch's: the shares' losses weighted by their target
    positions, summed over processes. ``resume_at`` skips the batches an interrupted run
    already trained on (the order is the same, so the rest is too).
    """
    step.train()
    # The shuffle order depends only on (seed, epoch): every process draws the same batches, and
    # a resumed run sees the same ones.
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    bf16 = config.train.precision == "bf16"
    done = resume_at or EpochProgress()
    done = EpochProgress(done.batch, done.steps, dict(done.totals))
    batches = iter_batches(data, config.train.batch_size, shuffle=True, generator=generator)
    bar = tqdm(
        total=_batches_per_epoch(data, config),
        initial=done.batch,
        desc=f"epoch {epoch}",
        disable=not (progress and ctx.is_main),
        leave=False,
    )
    with bar:
        for index, batch in enumerate(batches):
            if index < done.batch:
                continue
            local, weight = ctx.share(batch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = step(local.to(device))
            optimizer.zero_grad(set_to_none=True)
            (loss * weight).backward()
            optimizer.step()
            done.batch, done.steps = index + 1, done.steps + 1
            part = weight / ctx.world_size  # this share's weight in the global batch's mean
            totals = done.totals
            totals["train"] = totals.get("train", 0.0) + float(loss.detach()) * part
            for name, value in getattr(model, "last_losses", {}).items():
                totals[name] = totals.get(name, 0.0) + float(value) * part
            bar.update()
            if stop():
                break
    return done


def _batches_per_epoch(data: Any, config: Config) -> int:
    return -(-len(data) // config.train.batch_size)


def _evaluate(
    model: nn.Module,
    split: Split,
    stage: str,
    config: Config,
    device: torch.device,
    ctx: Distributed,
) -> dict[str, float]:
    """Full-ranking metrics; under DDP each process ranks its share of the users."""
    return evaluate(
        model,
        split,
        stage,
        ks=config.eval.ks,
        batch_size=config.eval.batch_size,
        max_len=config.data.max_len,
        device=device,
        shard=ctx if ctx.enabled else None,
    )


def load_trained(
    run_dir: Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Split, Config]:
    """Rebuild the best model of a run, with its split and config (for evaluate, recommend...)."""
    checkpoint = load_checkpoint(Path(run_dir) / "best.pt", device)
    config = from_dict(checkpoint["config"])
    split = prepare_split(config)
    spec = ModelSpec(**checkpoint["model_spec"])
    model = build_for_split(spec, split, config.graph.edge_weight, device)
    model.load_state_dict(checkpoint["model_state"])
    model.eval()
    return model, split, config


def _hparams(config: Config, spec: ModelSpec) -> dict[str, Any]:
    return {
        "model": spec.label,
        "encoder": spec.encoder,
        "backend": spec.backend,
        "embedding_dim": spec.embedding_dim,
        "num_layers": spec.num_layers,
        "lr": config.train.lr,
        "batch_size": config.train.batch_size,
        "weight_decay": config.train.weight_decay,
        "bpr_weight": config.train.bpr_weight,
        "max_len": config.data.max_len,
        "seed": config.seed,
    }


def _log_projector(writer: Any, model: nn.Module, split: Split, step: int) -> None:
    """Item embeddings with titles and genres, for models that have an item table."""
    with torch.no_grad():
        if hasattr(model, "encode"):
            model.eval()
            item_emb = model.encode()[1]
        elif hasattr(model, "item_embedding"):
            item_emb = model.item_embedding.weight[1:]
        else:
            return
    items = split.ratings.items
    log_item_projector(writer, item_emb, list(items["title"]), list(items["genres"]), step)
