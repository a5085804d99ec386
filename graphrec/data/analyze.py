"""``graphrec data analyze``: a dataset's statistics as a table, ``summary.json`` and PNG figures.

:func:`analyze` computes :func:`~graphrec.data.stats.summary_statistics`, writes the figures of
:mod:`graphrec.data.figures` and ``summary.json`` into one folder, and returns the statistics;
:func:`format_summary_table` renders them as the plain-text table the command prints. The folder is
checked before anything is computed, so an unwritable folder fails fast with a :class:`DataError`
naming it and leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphrec.data.figures import figure_notes, write_figures
from graphrec.data.ratings import Ratings
from graphrec.data.stats import summary_statistics
from graphrec.io import prepare_folder, write_text

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
_LABEL_WIDTH = 28
_MAX_GENRES = 20


def analyze(ratings: Ratings, out_dir: Path) -> dict[str, Any]:
    """Describe ``ratings`` in ``out_dir``: ``summary.json`` plus the PNG figures.

    Args:
        ratings: the table to describe.
        out_dir: output folder (created if missing).

    Returns:
        The :func:`~graphrec.data.stats.summary_statistics` dict plus ``name`` (the data's
        label), ``figures`` (file names written, relative to ``out_dir``) and ``notes`` (why a
        figure was skipped) — the same content as ``summary.json``.

    Raises:
        DataError: when ``out_dir`` cannot be created or written (the message names it).
    """
    out_dir = Path(out_dir)
    prepare_folder(out_dir)
    stats: dict[str, Any] = {"name": ratings.name, **summary_statistics(ratings)}
    figures = write_figures(ratings, out_dir, stats=stats)
    stats["figures"] = [path.name for path in figures]
    stats["notes"] = [f"{name} skipped: {reason}" for name, reason in figure_notes(stats).items()]
    text = json.dumps(_jsonable(stats), indent=2, allow_nan=False) + "\n"
    write_text(out_dir / SUMMARY_FILE, text)
    logger.info("analysis of %s written to %s", ratings.name, out_dir)
    return stats


def format_summary_table(stats: Mapping[str, Any]) -> str:
    """The SPEC §1 statistics as an aligned plain-text table (counts with thousands separators).

    Args:
        stats: a :func:`~graphrec.data.stats.summary_statistics` or :func:`analyze` dict.
    """
    lines: list[str] = []

    def section(title: str) -> None:
        if lines:
            lines.append("")
        lines.append(title)
        lines.append("-" * len(title))

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<{_LABEL_WIDTH}}{value}")

    name = stats.get("name")
    section(f"Dataset {name}" if name else "Dataset")
    row("users", _count(stats["num_users"]))
    row("items", f"{_count(stats['num_items'])}  ({_count(stats['num_rated_items'])} rated)")
    row("ratings", _count(stats["num_events"]))
    row(
        "unique (user, item) pairs",
        f"{_count(stats['num_unique_pairs'])}  (repeats {_pct(stats['repeat_share'])})",
    )
    row("density", f"{stats['density']:.6f}  ({_pct(stats['density'], 3)})")
    row("sparsity", _pct(stats["sparsity"], 3))

    section("Ratings")
    row("mean ± std", f"{stats['rating_mean']:.3f} ± {stats['rating_std']:.3f}")
    histogram = stats["rating_histogram"]
    biggest = max(histogram.values(), default=0.0) or 1.0
    for value in sorted(histogram, key=float):
        share = histogram[value]
        bar = "#" * max(1, round(30 * share / biggest)) if share > 0 else ""
        row(f"rating {float(value):g}", f"{_pct(share):>7}  {bar}")

    for key, title, unit in (
        ("user_activity", "User activity", "ratings per user"),
        ("item_popularity", "Item popularity", "ratings per item"),
    ):
        tail = stats[key]
        section(f"{title} ({unit})")
        row("mean / median", f"{tail['mean']:,.1f} / {_number(tail['median'])}")
        row("min / max", f"{_number(tail['min'])} / {_number(tail['max'])}")
        row("Gini", f"{tail['gini']:.3f}")
        if "top10_share" in tail:
            row("share on top 10 % items", _pct(tail["top10_share"]))

    section("Sequence lengths (events per user)")
    percentiles = stats["sequence_length_percentiles"]
    row("percentiles", "  ".join(f"{p} {_number(v)}" for p, v in percentiles.items()))

    genres = stats.get("genre_shares") or {}
    section("Genre shares (of catalogue items)")
    if genres:
        ordered = sorted(genres.items(), key=lambda kv: (-kv[1], kv[0]))
        for genre, share in ordered[:_MAX_GENRES]:
            row(genre, _pct(share))
        if len(ordered) > _MAX_GENRES:
            row(f"(+{len(ordered) - _MAX_GENRES} more)", "")
    else:
        row("(no genre metadata)", "")

    section("Time")
    if stats.get("has_timestamps") and "first_date" in stats:
        row("span", f"{stats['first_date']} to {stats['last_date']}")
        row("span (days)", f"{stats['span_days']:,.1f}")
        per_month = stats.get("events_per_month") or {}
        if per_month:
            busiest = max(per_month, key=per_month.get)
            row("months with ratings", _count(len(per_month)))
            row("busiest month", f"{busiest} ({_count(per_month[busiest])} ratings)")
    else:
        row("(no timestamps: events are in source order)", "")

    notes = stats.get("notes") or []
    if notes:
        section("Notes")
        lines.extend(f"  {note}" for note in notes)
    return "\n".join(lines)


def _count(value: float) -> str:
    return f"{int(value):,}"


def _number(value: float) -> str:
    """Whole numbers with separators, others with one decimal."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _pct(share: float, decimals: int = 1) -> str:
    return f"{100 * share:.{decimals}f} %"


def _jsonable(value: Any) -> Any:
    """Strict-JSON form: string keys, NumPy scalars to Python, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _key(key: Any) -> str:
    """Rating values as keys: ``4.0`` → ``"4"``, ``3.5`` → ``"3.5"``."""
    return f"{key:g}" if isinstance(key, float) else str(key)
