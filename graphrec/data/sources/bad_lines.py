"""The slow, exact pass of :func:`graphrec.data.sources.parsing.read_fields`: when the C parser
fails, read every field as text and name the first bad line as ``file:line: problem``.

Also the layout of fields on a physical line (``::`` files read as ``:`` with empty fillers),
shared by both passes so that they read alike.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.errors import DataError, Located, format_location


@dataclass(frozen=True)
class FieldLayout:
    """How logical fields sit on a physical line (``::`` becomes ``:`` plus empty fillers)."""

    names: tuple[str, ...]
    sep: str
    quoted: bool
    encoding: str

    @property
    def double(self) -> bool:
        return self.sep == "::"

    @property
    def physical_sep(self) -> str:
        return ":" if self.double else self.sep

    @property
    def width(self) -> int:
        """Physical field count of a good line."""
        return 2 * len(self.names) - 1 if self.double else len(self.names)

    def position(self, j: int) -> int:
        """Physical column of logical field ``j``."""
        return 2 * j if self.double else j


def read_layout(path: Path, spec: FieldLayout, header: bool, dtype: object) -> pd.DataFrame:
    """The one ``read_csv`` call of both passes, so the fast and the exact pass read alike."""
    return pd.read_csv(
        path,
        sep=spec.physical_sep,
        header=None,
        skiprows=1 if header else 0,
        dtype=dtype,
        keep_default_na=False,
        na_values=[""],
        skip_blank_lines=False,
        quoting=csv.QUOTE_MINIMAL if spec.quoted else csv.QUOTE_NONE,
        encoding=spec.encoding,
        engine="c",
        low_memory=False,
    )


def select_fields(frame: pd.DataFrame, spec: FieldLayout) -> pd.DataFrame:
    out = frame[[spec.position(j) for j in range(len(spec.names))]]
    out.columns = list(spec.names)
    return out


def locate_bad_line(
    path: Path,
    spec: FieldLayout,
    header: bool,
    kinds: Mapping[str, str],
    required: Sequence[str],
    located: Located,
) -> pd.DataFrame:
    """Slow, exact pass: every field as text, the first bad row reported, else the typed frame."""
    try:
        raw = read_layout(path, spec, header, str)
    except UnicodeDecodeError:
        raise decode_error(path, spec.encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no data rows" + (" after the header" if header else "")) from None
    except (pd.errors.ParserError, ValueError):
        raise _width_error(path, spec, header) from None
    raw = raw.dropna(how="all")
    if len(raw) == 0:
        raise DataError(f"{path}: no data rows")
    if raw.shape[1] < spec.width:
        raise located.error(raw.index[0], _width_problem_at(path, spec, located, raw.index[0]))
    # (position in raw, problem); a None problem is worded from the raw line
    problems: list[tuple[int, str | None]] = []

    def note(mask: np.ndarray, word: Callable[[int], str | None]) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            problems.append((i, word(i)))

    if raw.shape[1] > spec.width:
        note(raw.iloc[:, spec.width :].notna().any(axis=1).to_numpy(), lambda i: None)
    required_pos = [spec.position(spec.names.index(n)) for n in required]
    note(raw[required_pos].isna().any(axis=1).to_numpy(), lambda i: None)
    if spec.double:
        fillers = [spec.position(j) + 1 for j in range(len(spec.names) - 1)]
        note(
            raw[fillers].notna().any(axis=1).to_numpy(),
            lambda i: "malformed line: fields must be separated by '::'",
        )
    for name, kind in kinds.items():
        text = raw[spec.position(spec.names.index(name))]
        note(*_numeric_problems(text, name, kind))
    if problems:
        i, problem = min(problems, key=lambda p: p[0])
        row = raw.index[i]
        raise located.error(row, problem or _width_problem_at(path, spec, located, row))
    frame = select_fields(raw, spec)
    for name, kind in kinds.items():
        frame[name] = pd.to_numeric(frame[name]).astype(kind)
    return frame


def _numeric_problems(
    text: pd.Series, name: str, kind: str
) -> tuple[np.ndarray, Callable[[int], str]]:
    """Rows of a text column that are not numbers (or not integers), and how to word one."""
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
    bad = text.notna().to_numpy() & np.isnan(numbers)
    if kind == "int64":
        finite = np.isfinite(numbers)
        bad |= np.isinf(numbers)
        bad[finite] |= numbers[finite] != np.round(numbers[finite])

    def word(i: int) -> str:
        value = text.iat[i]
        if str(value).strip().lower() in {"nan", "na", "n/a", "null", "none"}:
            return f"{name} is NaN ({value!r})"
        noun = "an integer" if kind == "int64" else "a number"
        return f"{name} {value!r} is not {noun}"

    return bad, word


def _width_problem_at(path: Path, spec: FieldLayout, located: Located, row: int) -> str:
    """Word a missing-field problem by looking at the raw line."""
    assert located.first_line is not None
    line = _raw_line(path, row + located.first_line, spec.encoding)
    fields = split_fields(line, spec.physical_sep, spec.quoted)
    found = _logical_count(fields, spec)
    if found != len(spec.names):
        return f"expected {len(spec.names)} fields separated by {spec.sep!r}, found {found}"
    if len(fields) != spec.width:
        return f"malformed line: fields must be separated by {spec.sep!r}"
    empty = [n for j, n in enumerate(spec.names) if not fields[spec.position(j)].strip()]
    return f"empty value for {', '.join(empty)}" if empty else "malformed line"


def _width_error(path: Path, spec: FieldLayout, header: bool) -> DataError:
    """Scan lines for the first with the wrong field count (the C parser's own message is vague)."""
    with open(path, encoding=spec.encoding, errors="replace", newline="") as handle:
        if spec.quoted:
            reader = csv.reader(handle, delimiter=spec.physical_sep)
            rows: Iterator[tuple[int, list[str]]] = ((reader.line_num, r) for r in reader)
        else:
            rows = (
                (n, line.rstrip("\r\n").split(spec.physical_sep))
                for n, line in enumerate(handle, start=1)
            )
        for line, fields in rows:
            if (header and line == 1) or not fields or fields == [""]:
                continue
            if len(fields) != spec.width:
                found = _logical_count(fields, spec)
                problem = (
                    f"expected {len(spec.names)} fields separated by {spec.sep!r}, found {found}"
                    if found != len(spec.names)
                    else f"malformed line: fields must be separated by {spec.sep!r}"
                )
                return DataError(f"{format_location(path, line)}: {problem}")
    return DataError(f"{path}: cannot be parsed as {spec.sep!r}-separated fields")


def _logical_count(fields: list[str], spec: FieldLayout) -> int:
    """Fields a person would count: ``a:b::c`` is 2 fields for a ``::`` file, not 4."""
    return len(spec.physical_sep.join(fields).split(spec.sep)) if spec.double else len(fields)


def _raw_line(path: Path, line: int, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        text = next(itertools.islice(handle, line - 1, None), "")
    return text.rstrip("\r\n")


def split_fields(line: str, sep: str, quoted: bool) -> list[str]:
    if quoted:
        return next(csv.reader([line], delimiter=sep), [])
    return line.split(sep)


def decode_error(path: Path, encoding: str) -> DataError:
    """Find the first line that is not valid text in ``encoding``."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as exc:
                return DataError(
                    f"{format_location(path, number)}: not valid {encoding} text "
                    f"(byte {raw[exc.start]:#04x} at column {exc.start + 1})"
                )
    return DataError(f"{path}: not valid {encoding} text")
