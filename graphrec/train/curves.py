"""Training curves from a run's TensorBoard event files, drawn to PNG (``graphrec visualize``).

Validation metrics live on very different scales (NDCG@10 near 0.1, the popularity percentile
near 95, coverage near 0.05), so each *family* of metrics (the name before ``@``: ``hit``,
``ndcg``, ``mrr``, ``popularity_percentile``...) gets its own panel and axis, with one line per
cut-off; drawn on one axis, every ranking curve was flat.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from graphrec.errors import GraphrecError  # noqa: E402
from graphrec.io import atomic_write  # noqa: E402

Scalars = dict[str, list[tuple[int, float]]]
SKIPPED = ("num_users",)
"""Tags that are counts, not curves."""


def read_scalars(run_dir: Path) -> Scalars:
    """Every scalar tag of the run as (step, value) pairs."""
    if not any(Path(run_dir).glob("events.out.tfevents.*")):
        raise GraphrecError(f"no TensorBoard event files in {run_dir}")
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def metric_families(tags: list[str], prefix: str) -> dict[str, list[str]]:
    """Tags under ``prefix`` grouped by metric family (the name before ``@``), in sorted order.

    ``valid/ndcg@10`` and ``valid/ndcg@20`` share the family ``ndcg``; counts
    (:data:`SKIPPED`) are left out.
    """
    families: dict[str, list[str]] = {}
    for tag in sorted((t for t in tags if t.startswith(prefix)), key=_cutoff_order):
        name = tag.removeprefix(prefix)
        family = name.split("@", 1)[0]
        if family in SKIPPED:
            continue
        families.setdefault(family, []).append(tag)
    return families


def _cutoff_order(tag: str) -> tuple[str, int, str]:
    """Sort ``ndcg@5`` before ``ndcg@10``."""
    name, _, cutoff = tag.partition("@")
    return (name, int(cutoff) if cutoff.isdigit() else -1, cutoff)


def family_figure(scalars: Scalars, families: dict[str, list[str]], title: str) -> Figure:
    """One panel per family, each with its own y axis and one coloured line per tag."""
    columns = min(3, len(families))
    rows = -(-len(families) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, constrained_layout=True
    )
    colours = plt.get_cmap("tab10").colors
    for axis, (family, tags) in zip(axes.ravel(), families.items(), strict=False):
        for number, tag in enumerate(tags):
            steps, values = zip(*scalars[tag], strict=True)
            label = tag.rsplit("/", 1)[-1]
            axis.plot(steps, values, label=label, color=colours[number % len(colours)], marker=".")
        axis.set_title(family)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in axes.ravel()[len(families) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    return figure


def plot_curves(run_dir: Path, out_dir: Path) -> list[Path]:
    """``losses.png`` (every ``losses/*`` tag) and ``validation.png`` (one panel per family of
    ``valid/*`` metrics); returns the files written."""
    scalars = read_scalars(run_dir)
    name = Path(run_dir).name
    figures = []
    losses = sorted(t for t in scalars if t.startswith("losses/"))
    if losses:
        figures.append((family_figure(scalars, {"losses": losses}, name), "losses.png"))
    families = metric_families(list(scalars), "valid/")
    if families:
        title = f"validation metrics — {name}"
        figures.append((family_figure(scalars, families, title), "validation.png"))
    written = []
    for figure, filename in figures:
        written.append(
            atomic_write(
                Path(out_dir) / filename, lambda tmp, fig=figure: fig.savefig(tmp, format="png")
            )
        )
        plt.close(figure)
    return written
