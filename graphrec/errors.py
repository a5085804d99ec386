"""Errors raised at the package's boundaries, so the CLI can print them as one clear line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class GraphrecError(Exception):
    """Base class: anything the CLI should report without a traceback."""


class DataError(GraphrecError, ValueError):
    """Bad input data: a malformed file, a missing column, an unknown id, a NaN rating."""


def format_location(path: object, line: int | None = None) -> str:
    """`file:line` prefix for data errors (line numbers are 1-based, as an editor shows them)."""
    return f"{path}:{line}" if line is not None else f"{path}"


@dataclass(frozen=True)
class Located:
    """Turns a data row index into the place a person would look.

    Attributes:
        path: the file.
        first_line: the file line of data row 0 (2 with a header, 1 without); None for files
            addressed by row (Parquet).
    """

    path: Path
    first_line: int | None

    def where(self, row: int) -> str:
        """``file:line`` for a text file, ``file: row N`` (1-based) for a row-addressed one."""
        if self.first_line is None:
            return f"{self.path}: row {int(row) + 1}"
        return format_location(self.path, int(row) + self.first_line)

    def error(self, row: int, problem: str) -> DataError:
        return DataError(f"{self.where(row)}: {problem}")
