"""``graphrec evaluate``, ``compare`` and ``visualize``: look at trained runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from graphrec.cli.checks import Stage, check_device, output_file, output_folder, run_folder
from graphrec.cli.state import TrustFileOption, use_trust
from graphrec.tables import metrics_table

RunDirOption = Annotated[Path, typer.Option(help="A run folder written by `graphrec train`.")]


def evaluate(
    run_dir: RunDirOption,
    stage: Annotated[Stage, typer.Option(help="Held-out events to rank.")] = "test",
    save_rankings: Annotated[
        Path | None,
        typer.Option(help="CSV of every user's top-K: user_id,target_item,rank,item_id."),
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Length of the saved rankings.")] = 10,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    trust_file: TrustFileOption = False,
) -> None:
    """Full-ranking evaluation (history masked) of a run's best checkpoint."""
    use_trust(trust_file)
    run_folder(run_dir)
    check_device(device)
    output_file(save_rankings, "--save-rankings")
    from graphrec.eval.ranking import evaluate_detailed
    from graphrec.inference import rankings_frame
    from graphrec.inference import save_rankings as write_rankings
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir, device)
    result = evaluate_detailed(
        model,
        split,
        stage,
        ks=config.eval.ks,
        batch_size=config.eval.batch_size,
        max_len=config.data.max_len,
        device=device,
        top_n=max(k, *config.eval.ks),
    )
    typer.echo(metrics_table({stage: result.metrics}))
    if save_rankings is not None:
        write_rankings(rankings_frame(split, result, k), save_rankings)
        typer.echo(f"rankings of {len(result.users):,} users written to {save_rankings}")


def compare(
    first: Annotated[Path, typer.Argument(help="First run folder.")],
    second: Annotated[Path, typer.Argument(help="Second run folder.")],
    users: Annotated[str | None, typer.Option(help="Comma-separated raw user ids to show.")] = None,
    show: Annotated[
        int, typer.Option(min=0, help="How many users to show when --users is not given.")
    ] = 3,
    k: Annotated[int, typer.Option(min=1, help="List length.")] = 10,
    trust_file: TrustFileOption = False,
) -> None:
    """Two models' recommendations side by side, with overlap@K (mean over every test user)."""
    use_trust(trust_file)
    for path, name in ((first, "FIRST"), (second, "SECOND")):
        run_folder(path, name)
    from graphrec.eval.ranking import evaluate_detailed
    from graphrec.train.trainer import load_trained

    runs = [load_trained(path) for path in (first, second)]
    split = runs[0][1]
    results = [evaluate_detailed(m, s, "test", max_len=c.data.max_len, top_n=k) for m, s, c in runs]
    tops = [r.top_items[:, :k] for r in results]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(*tops, strict=True)])
    rows = {str(path): r.metrics for path, r in zip((first, second), results, strict=True)}
    typer.echo(metrics_table(rows))
    typer.echo(f"mean overlap@{k} over {len(tops[0]):,} test users: {overlap:.3f}")
    ratings = split.ratings
    chosen = (
        [ratings.user_index(u.strip()) for u in users.split(",")]
        if users
        else results[0].users[:show].tolist()
    )
    position = {int(u): n for n, u in enumerate(results[0].users)}
    names = [_run_name(path) for path in (first, second)]
    for user in chosen:
        if user not in position:
            typer.echo(f"user {ratings.user_ids[user]} has no test event")
            continue
        a, b = (t[position[user]] for t in tops)
        typer.echo(f"\nuser {ratings.user_ids[user]}  overlap@{k} {len(set(a) & set(b)) / k:.2f}")
        typer.echo(f"    {names[0]:<38} | {names[1]}")
        for rank, (x, y) in enumerate(zip(a, b, strict=True), 1):
            typer.echo(f"{rank:2d}. {ratings.title(x)[:38]:<38} | {ratings.title(y)[:38]}")


def _run_name(path: Path, width: int = 38) -> str:
    """The run folder as given, its start cut to fit the column."""
    text = str(path)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def visualize(
    run_dir: RunDirOption,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the PNGs (default RUN_DIR/figures).")
    ] = None,
) -> None:
    """Training curves from the run's TensorBoard logs to PNG: losses, and one panel per family
    of validation metrics (each with its own axis)."""
    if not Path(run_dir).is_dir():
        raise typer.BadParameter(f"{run_dir} does not exist", param_hint="--run-dir")
    target = output_folder(out or Path(run_dir) / "figures", "--out")
    from graphrec.train.curves import plot_curves

    for path in plot_curves(run_dir, target):
        typer.echo(f"wrote {path}")
