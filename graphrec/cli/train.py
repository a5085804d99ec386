"""``graphrec train``: train a recommender from a config plus command-line options."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.checks import BackendName, EncoderName, HeadName, ModelName, check_config
from graphrec.cli.checks import output_folder as check_output_folder
from graphrec.cli.state import (
    ConfigOption,
    SetOption,
    TrustFileOption,
    resolve_config,
    use_trust,
)
from graphrec.errors import GraphrecError
from graphrec.tables import metrics_table

log = logging.getLogger(__name__)


def train(
    ctx: typer.Context,
    config_path: ConfigOption = None,
    overrides: SetOption = None,
    source: Annotated[str | None, typer.Option(help="Dataset (overrides data.source).")] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/<exp>__<model>__<seed>__<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue from RUN_DIR/last.pt; an error when there is none.")
    ] = False,
    resume_if_present: Annotated[
        bool, typer.Option(help="Continue from RUN_DIR/last.pt when it exists, else start anew.")
    ] = False,
    model: Annotated[ModelName | None, typer.Option(help="Model (overrides model.name).")] = None,
    encoder: Annotated[EncoderName | None, typer.Option(help="GNN encoder.")] = None,
    backend: Annotated[BackendName | None, typer.Option(help="Message-passing backend.")] = None,
    head: Annotated[HeadName | None, typer.Option(help="Sequential head.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Sequences per batch.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Learning rate.")] = None,
    weight_decay: Annotated[float | None, typer.Option(min=0.0, help="Weight decay.")] = None,
    embedding_dim: Annotated[int | None, typer.Option(min=1, help="Embedding width.")] = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Train with early stopping on validation NDCG@10; print the test metrics of the best epoch."""
    use_trust(trust_file)
    config = resolve_config(ctx, config_path, overrides)
    config = check_config(
        replace(
            config,
            data=_set(config.data, source=source),
            model=_set(
                config.model,
                name=model,
                encoder=encoder,
                backend=backend,
                head=head,
                embedding_dim=embedding_dim,
            ),
            train=_set(
                config.train, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay
            ),
        )
    )
    _check_run_dir(run_dir, resume, resume_if_present)
    from graphrec.train.trainer import train as run_training

    result = run_training(config, run_dir, resume=resume or resume_if_present)
    if os.environ.get("RANK", "0") != "0":  # under torchrun every rank holds the merged result
        return
    typer.echo(metrics_table({"test": result.test, "valid (best epoch)": result.best_valid}))
    typer.echo(f"best epoch {result.best_epoch}; run folder {result.run_dir}")


def _check_run_dir(run_dir: Path | None, resume: bool, resume_if_present: bool) -> None:
    """The run folder can be written, and --resume has something to resume."""
    if resume and resume_if_present:
        raise typer.BadParameter("give --resume or --resume-if-present, not both")
    check_output_folder(run_dir if run_dir is not None else Path("runs"), "--run-dir")
    if not (resume or resume_if_present):
        return
    if run_dir is None:
        raise typer.BadParameter("resuming needs the run folder", param_hint="--run-dir")
    if not (Path(run_dir) / "last.pt").is_file():
        if resume:
            raise GraphrecError(
                f"nothing to resume: {Path(run_dir) / 'last.pt'} does not exist (drop --resume "
                "to start a new run there, or use --resume-if-present)"
            )
        log.info("no last.pt in %s: starting a new run", run_dir)


def _set(section, **values):
    """Replace the fields given on the command line (None = not given)."""
    return replace(section, **{k: v for k, v in values.items() if v is not None})
