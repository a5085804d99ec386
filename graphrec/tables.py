"""Plain-text tables for command output."""

from __future__ import annotations

import re
from collections.abc import Mapping

COUNT_PREFIXES = ("num_",)
COUNT_SUFFIXES = ("calls", "_count", "_users", "_accounts", "_sequences", "epoch")
"""Column names that hold counts: printed as integers (``943``, not ``943.0000``)."""


def metrics_table(rows: Mapping[str, Mapping[str, float]], digits: int = 4) -> str:
    """One row per named result, one column per metric (the union, in first-seen order)."""
    columns: list[str] = []
    for values in rows.values():
        columns.extend(c for c in values if c not in columns)
    width = max([len(name) for name in rows] + [4])
    header = f"{'':<{width}}  " + "  ".join(f"{c:>{max(len(c), digits + 2)}}" for c in columns)
    lines = [header]
    for name, values in rows.items():
        cells = []
        for c in columns:
            value = values.get(c)
            if value is None:
                text = "-"
            elif is_count(c) and isinstance(value, float) and value.is_integer():
                text = f"{int(value):,}"
            elif isinstance(value, float):
                text = f"{value:.{digits}f}"
            else:
                text = str(value)
            cells.append(f"{text:>{max(len(c), digits + 2)}}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def is_count(column: str) -> bool:
    """Whether a column name stands for a count (``num_users``, ``oracle_calls``)."""
    return column.startswith(COUNT_PREFIXES) or column.endswith(COUNT_SUFFIXES)


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``93rd``."""
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def fix_ordinals(text: str) -> str:
    """Every ``<n>th`` in ``text`` with the right English suffix (``93th`` -> ``93rd``)."""
    return re.sub(r"\b(\d+)th\b", lambda match: ordinal(int(match.group(1))), text)
