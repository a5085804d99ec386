"""``graphrec data``: download, generate and analyze rating datasets."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.checks import Preset, SplitFormat, output_folder
from graphrec.cli.state import (
    ConfigOption,
    SetOption,
    SourceOption,
    resolve_config,
    root_seed,
)

app = typer.Typer(help="Download, generate and analyze rating datasets.", no_args_is_help=True)
log = logging.getLogger(__name__)


@app.command()
def download(
    name: Annotated[str, typer.Argument(help="ml-100k, ml-1m, ml-20m, ml-25m or ml-latest-small.")],
    data_root: Annotated[Path, typer.Option(help="Folder datasets are extracted into.")] = Path(
        "data"
    ),
    source: Annotated[
        Path | None, typer.Option(help="Import this zip or folder instead of downloading.")
    ] = None,
) -> None:
    """Fetch a MovieLens dataset from GroupLens (checksum-verified, extracted atomically)."""
    output_folder(data_root, "--data-root")
    from graphrec.data.download import download as fetch

    folder = fetch(name, data_root, source=source)
    typer.echo(f"{name} ready in {folder}")


@app.command()
def synth(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Output folder (RecBole atomic files).")],
    preset: Annotated[Preset, typer.Option(help="Scale of the generated data.")] = "ml-100k",
    seed: Annotated[
        int | None, typer.Option(help="Generator seed (default: root --seed or 0).")
    ] = None,
) -> None:
    """Generate a synthetic MovieLens-like dataset (offline default data)."""
    output_folder(out, "--out")
    from graphrec.data.sources.recbole import write_atomic
    from graphrec.data.synthetic import generate

    ratings = generate(preset, seed=root_seed(ctx) if seed is None else seed)
    path = write_atomic(ratings, out, name=f"synthetic-{preset}")
    typer.echo(
        f"{ratings.num_users:,} users, {ratings.num_items:,} items, "
        f"{ratings.num_events:,} ratings written to {path}"
    )


@app.command()
def analyze(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for summary.json and the PNG figures.")],
    source: SourceOption = "synthetic:ml-100k",
) -> None:
    """Print the dataset's statistics table and write it as JSON plus PNG figures."""
    output_folder(out, "--out")
    from graphrec.data.analyze import analyze as run_analysis
    from graphrec.data.analyze import format_summary_table
    from graphrec.data.load import load_ratings

    ratings = load_ratings(source, seed=root_seed(ctx))
    stats = run_analysis(ratings, out)
    typer.echo(format_summary_table(stats))
    typer.echo(f"summary and figures written to {out}")


@app.command("export-split")
def export_split(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Dataset folder to write (RecBole's data_path/NAME).")],
    config_path: ConfigOption = None,
    overrides: SetOption = None,
    source: Annotated[str | None, typer.Option(help="Dataset (overrides data.source).")] = None,
    fmt: Annotated[SplitFormat, typer.Option("--format", help="File format.")] = "recbole",
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: the --out folder's name).")
    ] = None,
) -> None:
    """Write the exact train/valid/test split `graphrec train` uses, for an external peer."""
    output_folder(out, "--out")
    config = resolve_config(ctx, config_path, overrides)
    if source is not None:
        config = replace(config, data=replace(config.data, source=source))
    from graphrec.data.export_split import export_split_recbole
    from graphrec.train.trainer import prepare_split

    split = prepare_split(config)
    paths = export_split_recbole(split, out, name or Path(out).name, config.data.max_len)
    typer.echo(
        f"{len(split.train):,} train, {len(split.valid):,} valid and {len(split.test):,} test "
        f"events ({fmt}) written to {out}; RecBole config: {paths[-1]}"
    )
