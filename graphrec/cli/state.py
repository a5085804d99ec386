"""Options shared by every command: the root callback's values and the config loader."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

from graphrec.config import Config, load_config


@dataclass
class RootOptions:
    """Values of the root callback (``graphrec --seed 1 --device cpu ...``)."""

    verbose: bool = False
    seed: int | None = None
    device: str | None = None
    threads: int = 1


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (see configs/).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set train.lr=0.01 (repeatable)."),
]
TrustFileOption = Annotated[
    bool,
    typer.Option(
        "--trust-file",
        help="Also load checkpoints and detector files in the old pickle format. Unpickling can "
        "run any code the file's author chose: only for files from a source you trust.",
    ),
]
SourceOption = Annotated[
    str,
    typer.Option(
        help="Dataset folder or file (GroupLens ml-*, RecBole atomic, CSV/Parquet), a downloaded "
        "dataset name, or synthetic:<preset>."
    ),
]


def resolve_config(
    ctx: typer.Context, config_path: Path | None, overrides: list[str] | None
) -> Config:
    """Defaults < file < --set < root options (--seed, --device); choices and ranges checked."""
    from graphrec.cli.checks import check_config

    config = load_config(config_path, overrides)
    root: RootOptions = ctx.obj or RootOptions()
    if root.seed is not None:
        config = replace(config, seed=root.seed)
    if root.device is not None:
        config = replace(config, train=replace(config.train, device=root.device))
    return check_config(config)


def use_trust(trust_file: bool) -> None:
    """Apply a command's ``--trust-file`` (the loaders read it process-wide)."""
    from graphrec.serialization import trust_files

    trust_files(trust_file)


def root_seed(ctx: typer.Context, default: int = 0) -> int:
    root: RootOptions = ctx.obj or RootOptions()
    return default if root.seed is None else root.seed
