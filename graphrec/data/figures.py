"""PNG figures of a ratings table: ratings, long tails, sequence lengths, genres, time.

The figures are what one looks at first in a recommendation dataset (cf. Harper & Konstan, "The
MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015): the skew of the rating scale, the
long tails of user activity and item popularity (rank against count on log-log axes, where a
power law is a straight line), how long user sequences are (what ``max_len`` truncates), which
genres dominate, and how events spread over time.

Drawing uses matplotlib's object-oriented API on an explicit ``Agg`` canvas: no pyplot, no global
backend switch, no window, so it works headless, in tests and inside a notebook without touching
its backend. Each PNG is written atomically (:func:`graphrec.io.atomic_write`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from graphrec.data.ratings import Ratings
from graphrec.data.stats import summary_statistics
from graphrec.io import atomic_write, prepare_folder

logger = logging.getLogger(__name__)

RATING_HISTOGRAM = "rating_histogram.png"
USER_ACTIVITY = "user_activity_long_tail.png"
ITEM_POPULARITY = "item_popularity_long_tail.png"
SEQUENCE_LENGTHS = "sequence_lengths.png"
GENRE_SHARES = "genre_shares.png"
RATINGS_OVER_TIME = "ratings_over_time.png"
FIGURE_NAMES = (
    RATING_HISTOGRAM,
    USER_ACTIVITY,
    ITEM_POPULARITY,
    SEQUENCE_LENGTHS,
    GENRE_SHARES,
    RATINGS_OVER_TIME,
)
DPI = 100
_SIZE = (6.4, 4.0)  # inches: 640x400 px at DPI
_MAX_MONTH_LABELS = 12


def write_figures(
    ratings: Ratings, out_dir: Path, stats: Mapping[str, Any] | None = None
) -> list[Path]:
    """Draw every figure that applies to ``ratings`` into ``out_dir``.

    Figures that do not apply are skipped with a logged note (see :func:`figure_notes`): the
    time figure without real timestamps, the genre figure without genre metadata.

    Args:
        ratings: the table to draw.
        out_dir: output folder (created if missing).
        stats: :func:`~graphrec.data.stats.summary_statistics` of ``ratings`` if already
            computed (default None: computed here).

    Returns:
        The written PNG paths, in ``FIGURE_NAMES`` order.

    Raises:
        DataError: when ``out_dir`` cannot be created or written.
    """
    out_dir = Path(out_dir)
    prepare_folder(out_dir)
    if stats is None:
        stats = summary_statistics(ratings)
    per_user = np.bincount(ratings.events["user"].to_numpy(np.int64), minlength=ratings.num_users)
    per_item = np.bincount(ratings.events["item"].to_numpy(np.int64), minlength=ratings.num_items)

    drawers: dict[str, Callable[[], Figure]] = {
        RATING_HISTOGRAM: lambda: _rating_histogram(stats["rating_histogram"]),
        USER_ACTIVITY: lambda: _long_tail(per_user, "user", "ratings per user"),
        ITEM_POPULARITY: lambda: _long_tail(per_item, "item", "ratings per item"),
        SEQUENCE_LENGTHS: lambda: _sequence_lengths(per_user[per_user > 0]),
        GENRE_SHARES: lambda: _genre_shares(stats.get("genre_shares") or {}),
        RATINGS_OVER_TIME: lambda: _ratings_over_time(stats.get("events_per_month") or {}),
    }
    notes = figure_notes(stats)
    paths = []
    for name, draw in drawers.items():
        if name in notes:
            logger.info("skipping %s: %s", name, notes[name])
            continue
        path = out_dir / name
        save_figure(draw(), path)
        paths.append(path)
    logger.info("wrote %d figures to %s", len(paths), out_dir)
    return paths


def figure_notes(stats: Mapping[str, Any]) -> dict[str, str]:
    """Why a figure is skipped for data with these statistics: ``{file name: reason}``."""
    notes = {}
    if not stats.get("has_timestamps") or not stats.get("events_per_month"):
        notes[RATINGS_OVER_TIME] = "the data has no timestamps"
    if not stats.get("genre_shares"):
        notes[GENRE_SHARES] = "the items have no genre metadata"
    return notes


# ---------------------------------------------------------------------------- figures
def _new_figure(left: float = 0.12, bottom: float = 0.13) -> tuple[Figure, Any]:
    """An Agg-backed figure with one axes and fixed margins.

    Fixed margins instead of a layout engine: constrained/tight layout measure every tick label
    and would double the drawing time.
    """
    figure = Figure(figsize=_SIZE, dpi=DPI)
    FigureCanvasAgg(figure)  # attaches itself: the figure renders with Agg, never via pyplot
    figure.subplots_adjust(left=left, right=0.97, bottom=bottom, top=0.91)
    return figure, figure.add_subplot()


def _rating_histogram(histogram: Mapping[Any, float]) -> Figure:
    figure, axes = _new_figure()
    values = np.array([float(v) for v in histogram], dtype=np.float64)
    shares = np.array(list(histogram.values()), dtype=np.float64)
    order = np.argsort(values)
    values, shares = values[order], shares[order]
    step = float(np.min(np.diff(values))) if len(values) > 1 else 1.0
    axes.bar(values, 100 * shares, width=0.8 * step, color="tab:blue")
    axes.set_xticks(values)
    axes.set_xticklabels([f"{v:g}" for v in values])
    axes.set_xlabel("rating")
    axes.set_ylabel("share of ratings (%)")
    axes.set_title("Rating distribution")
    return figure


def _long_tail(counts: np.ndarray, kind: str, label: str) -> Figure:
    """Rank (1 = most active/popular) against count, log-log; zero counts cannot be drawn."""
    figure, axes = _new_figure()
    ordered = np.sort(counts[counts > 0])[::-1]  # [n] descending
    ranks = np.arange(1, len(ordered) + 1)  # [n]
    axes.loglog(ranks, ordered, color="tab:blue", linewidth=1.2)
    _plain_log_ticks(axes.yaxis)
    axes.set_xlabel(f"{kind} rank")
    axes.set_ylabel(label)
    title = "User activity long tail" if kind == "user" else "Item popularity long tail"
    zeros = int(np.count_nonzero(counts == 0))
    if zeros:
        title += f" ({zeros:,} {kind}s without ratings not shown)"
    axes.set_title(title)
    axes.grid(True, which="major", alpha=0.3)
    return figure


def _sequence_lengths(lengths: np.ndarray) -> Figure:
    """Histogram of events per user on log-spaced bins (lengths span 1 to thousands)."""
    figure, axes = _new_figure()
    low = int(lengths.min()) if len(lengths) else 1
    high = max(int(lengths.max()) if len(lengths) else 1, low + 1)
    edges = np.geomspace(low, high + 1, num=min(40, high + 2 - low))  # [<=40]
    bins = np.unique(np.round(edges).astype(np.int64))
    axes.hist(lengths, bins=bins, color="tab:blue", edgecolor="white", linewidth=0.3)
    axes.set_xscale("log")
    _plain_log_ticks(axes.xaxis)
    if len(lengths):
        median = float(np.median(lengths))
        axes.axvline(median, color="tab:red", linestyle="--", label=f"median {median:g}")
        axes.legend()
    axes.set_xlabel("events per user (sequence length)")
    axes.set_ylabel("users")
    axes.set_title("Sequence length distribution")
    return figure


def _genre_shares(shares: Mapping[str, float]) -> Figure:
    longest = max((len(name) for name in shares), default=8)
    figure, axes = _new_figure(left=min(0.45, 0.04 + 0.0125 * longest))
    ordered = sorted(shares.items(), key=lambda kv: kv[1])  # largest at the top of a barh
    names = [name for name, _ in ordered]
    axes.barh(names, [100 * share for _, share in ordered], color="tab:blue")
    axes.tick_params(axis="y", labelsize=8 if len(names) > 12 else 10)
    axes.set_xlabel("share of catalogue items (%; multi-genre items count once per genre)")
    axes.set_title("Genre shares")
    return figure


def _ratings_over_time(per_month: Mapping[str, int]) -> Figure:
    figure, axes = _new_figure(bottom=0.22)
    months = sorted(per_month)
    counts = [per_month[m] for m in months]
    positions = np.arange(len(months))
    axes.bar(positions, counts, width=1.0, color="tab:blue", edgecolor="white", linewidth=0.3)
    step = max(1, int(np.ceil(len(months) / _MAX_MONTH_LABELS)))
    axes.set_xticks(positions[::step])
    axes.set_xticklabels(months[::step], rotation=45, ha="right", fontsize=8)
    axes.set_xlabel("month (UTC)")
    axes.set_ylabel("ratings")
    axes.set_title("Ratings per month")
    return figure


def _plain_log_ticks(axis: Any) -> None:
    """Log-axis ticks at 1, 2, 5 x 10^k labelled as plain numbers ("20", "1,000").

    Matplotlib's default labels only powers of ten, which leaves a range under two decades (user
    activity, sequence lengths) with one label or with cluttered minor ``2x10^1`` labels.
    """
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------------- files
def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically."""
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI))
