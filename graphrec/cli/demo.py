"""``graphrec demo``: the whole pipeline on the offline default data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.state import SourceOption, root_seed


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("runs/demo"),
    source: SourceOption = "synthetic:ml-100k",
    stage: Annotated[
        list[str] | None, typer.Option(help="Run only these stages (repeatable).")
    ] = None,
) -> None:
    """Generate (or load) data, analyze it, build and export the graph, train, attack and defend
    the recommender, detect injected anomalous accounts, and print a summary."""
    from graphrec.demo import format_results, run_demo

    results = run_demo(out, seed=root_seed(ctx), source=source, stages=stage)
    typer.echo(format_results(results))
