"""``graphrec recommend`` and ``graphrec interactive``: use a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.checks import run_folder
from graphrec.cli.state import TrustFileOption, use_trust
from graphrec.errors import DataError

RunDirOption = Annotated[Path, typer.Option(help="A run folder written by `graphrec train`.")]


def recommend(
    run_dir: RunDirOption,
    user: Annotated[
        str | None, typer.Option(help="Raw user id: recommend from their history.")
    ] = None,
    items: Annotated[
        str | None, typer.Option(help="Comma-separated raw item ids, oldest first.")
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="How many recommendations.")] = 10,
    trust_file: TrustFileOption = False,
) -> None:
    """Top-K movies (titles shown) for a known user or for an ad-hoc list of movies."""
    use_trust(trust_file)
    if (user is None) == (items is None):
        raise DataError("give exactly one of --user ID or --items ID,ID,...")
    run_folder(run_dir)
    from graphrec.inference import observed_history, recommend_items, recommend_user
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir)
    ratings = split.ratings
    if user is not None:
        index = ratings.user_index(user)
        history = observed_history(split, index)
        last = f"; most recent: {ratings.title(int(history[-1]))}" if len(history) else ""
        typer.echo(f"top {k} for user {user} ({len(history):,} movies rated{last})")
        top = recommend_user(model, split, index, k, config.data.max_len)
    else:
        sequence = [ratings.item_index(i.strip()) for i in items.split(",") if i.strip()]
        shown = ", ".join(ratings.title(i) for i in sequence[-3:])
        more = f"{len(sequence) - 3} more, then " if len(sequence) > 3 else ""
        typer.echo(f"top {k} after {more}{shown}")
        top = recommend_items(model, sequence, k, max_len=config.data.max_len)
    for rank, item in enumerate(top, 1):
        typer.echo(f"{rank:2d}. [{ratings.item_ids[item]}] {ratings.title(int(item))}")


def interactive(
    run_dir: RunDirOption,
    k: Annotated[int, typer.Option(min=1, help="How many recommendations to show.")] = 10,
    trust_file: TrustFileOption = False,
) -> None:
    """Build a sequence of movies by hand and get recommendations (type `help`)."""
    use_trust(trust_file)
    run_folder(run_dir)
    from graphrec.interactive import HELP, InteractiveSession
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir)
    session = InteractiveSession(model=model, split=split, max_len=config.data.max_len, k=k)
    typer.echo(HELP)
    while not session.finished:
        try:
            line = input("> ")
        except EOFError:
            break
        reply = session.handle(line)
        if reply:
            typer.echo(reply)
