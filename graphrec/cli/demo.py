"""``graphrec demo``: the whole pipeline on the offline default data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.checks import DemoStage, output_folder
from graphrec.cli.state import SourceOption, root_seed


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("runs/demo"),
    source: SourceOption = "synthetic:ml-100k",
    stage: Annotated[
        list[DemoStage] | None, typer.Option(help="Run only these stages (repeatable).")
    ] = None,
) -> None:
    """Generate (or load) data, analyze it, build and export the graph, train, attack and defend
    the recommender, detect injected anomalous accounts, and print a summary."""
    output_folder(out, "--out")
    from graphrec.demo import format_results, run_demo

    stages = None if not stage else [s.value for s in stage]
    results = run_demo(out, seed=root_seed(ctx), source=source, stages=stages)
    typer.echo(format_results(results))
