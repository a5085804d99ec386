"""Line-checked parsing shared by every reader.

Event files can hold tens of millions of rows (ml-20m, ml-25m), so they are parsed by pandas' C
parser with typed columns. That fast path says nothing useful when it fails ("could not convert
string to float"), so on any failure the file is parsed again with every column as text, and the
first offending row is located vectorially and reported as ``file:line: problem``, the line
counted as an editor counts it (1-based, header and blank lines included; that slow pass is
:mod:`graphrec.data.sources.bad_lines`). Metadata files are a few thousand lines: they are split
in Python, which gives exact line numbers even for quoted CSV.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.sources.bad_lines import (
    FieldLayout,
    decode_error,
    locate_bad_line,
    read_layout,
    select_fields,
    split_fields,
)
from graphrec.errors import DataError, Located, format_location

logger = logging.getLogger(__name__)

NUMERIC_KINDS = ("int64", "float64")


def require_file(folder: Path, filename: str, what: str) -> Path:
    """The path of a file a format cannot do without, or a DataError naming it."""
    path = folder / filename
    if not path.is_file():
        raise DataError(f"{folder}: missing required file {filename} ({what})")
    return path


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")
_ARCHIVES = {
    b"PK\x03\x04": "a zip archive",
    b"\x1f\x8b": "gzip-compressed",
    b"BZh": "bzip2-compressed",
}


def check_nonempty(path: Path, *, text: bool = True) -> None:
    """Reject a missing, empty or (for a ``text`` table) binary file before pandas gives a
    vaguer message."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    if not text:
        return
    with open(path, "rb") as handle:
        head = handle.read(8192)
    for magic, kind in _ARCHIVES.items():
        if head.startswith(magic):
            raise DataError(f"{path}: {kind}, not a text table; extract it first")
    control = sum(head.count(bytes([b])) for b in _CONTROL_BYTES)
    if b"\x00" in head or control > 0.01 * len(head):
        raise DataError(f"{path}: binary data, not a text table")


def read_header(
    path: Path, *, sep: str, encoding: str = "utf-8", quoted: bool = False
) -> list[str]:
    """The field names on line 1 of a file with a header."""
    check_nonempty(path)
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        first = handle.readline()
    fields = split_fields(first.rstrip("\r\n"), sep, quoted)
    if not any(f.strip() for f in fields):
        raise DataError(f"{format_location(path, 1)}: empty header line")
    fields[0] = fields[0].lstrip("\ufeff")  # a byte-order mark from spreadsheet exports
    return [f.strip() for f in fields]


def require_columns(
    path: Path, header: Sequence[str], required: Sequence[str], expected: str
) -> None:
    """A DataError at line 1 when a header lacks columns the reader needs."""
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{format_location(path, 1)}: missing column(s) {', '.join(missing)} "
            f"(header has {', '.join(header)}; expected {expected})"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataError(f"{format_location(path, 1)}: repeated column(s) {', '.join(duplicated)}")


def read_fields(
    path: Path,
    names: Sequence[str],
    *,
    sep: str,
    header: bool,
    kinds: Mapping[str, str] | None = None,
    optional: Collection[str] = (),
    encoding: str = "utf-8",
    quoted: bool = False,
) -> tuple[pd.DataFrame, Located]:
    """Parse a delimited file whose every line must have ``len(names)`` fields.

    Args:
        path: the file.
        names: the field names, in file order (for a file with a header, the header's names).
        sep: one character, or ``"::"`` (MovieLens 1M/10M), parsed as ``:`` with the empty fields
            in between checked, so the C parser still does the work.
        header: whether line 1 is a header to skip.
        kinds: ``"int64"`` or ``"float64"`` for numeric fields; the others stay text.
        optional: fields that may be empty; every other field must have a value.
        encoding: text encoding (MovieLens 100K/1M are Latin-1).
        quoted: whether fields may be CSV-quoted (``"American President, The (1995)"``).

    Returns:
        The frame, indexed by data row (0-based, blank lines counted but dropped), and the
        :class:`Located` that maps that index back to file lines.
    """
    kinds = dict(kinds or {})
    for name, kind in kinds.items():
        if kind not in NUMERIC_KINDS or name not in names:
            raise ValueError(f"bad kind {kind!r} for field {name!r}")
    check_nonempty(path)
    located = Located(path, 2 if header else 1)
    spec = FieldLayout(names=tuple(names), sep=sep, quoted=quoted, encoding=encoding)
    required = [n for n in names if n not in optional]
    try:
        frame = _read(path, spec, header, kinds)
        if _fast_path_ok(frame, spec, required):
            frame = select_fields(frame, spec)
            if len(frame) == 0:
                raise DataError(f"{path}: no data rows")
            return frame, located
    except UnicodeDecodeError:
        raise decode_error(path, encoding) from None
    except (ValueError, OverflowError) as exc:  # typed parse failed: diagnose below
        if isinstance(exc, DataError):
            raise
        logger.debug("fast parse of %s failed (%s); locating the bad line", path, exc)
    return locate_bad_line(path, spec, header, kinds, required, located), located


def split_lines(
    path: Path,
    width: int,
    *,
    sep: str,
    header: bool,
    encoding: str = "utf-8",
    quoted: bool = False,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, fields)`` for each non-blank data line of a small file, checking the width.

    Meant for metadata files (a few thousand lines), where a Python loop is cheap and quoted
    fields spanning lines still get the right line number.
    """
    check_nonempty(path)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError:
        raise decode_error(path, encoding) from None
    if quoted:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        rows: Iterator[tuple[int, list[str]]] = ((reader.line_num, row) for row in reader)
    else:
        rows = ((number, line.split(sep)) for number, line in enumerate(text.splitlines(), start=1))
    seen = False
    for line, fields in rows:
        if header and line == 1:
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != width:
            raise DataError(
                f"{format_location(path, line)}: expected {width} fields separated by {sep!r}, "
                f"found {len(fields)}"
            )
        seen = True
        yield line, fields
    if not seen:
        raise DataError(f"{path}: no data rows")


def check_range(
    frame: pd.DataFrame,
    column: str,
    located: Located,
    *,
    low: float,
    high: float,
    low_inclusive: bool,
) -> None:
    """Reject NaN or out-of-range values (ratings) at their first line."""
    values = frame[column].to_numpy(np.float64)
    low_ok = values >= low if low_inclusive else values > low
    bad = ~(low_ok & (values <= high))  # NaN compares False, so NaN is bad too
    if bad.any():
        i = int(np.argmax(bad))
        value = values[i]
        if np.isnan(value):
            raise located.error(frame.index[i], f"{column} is NaN")
        bound = (
            f"{low:g} ≤ {column} ≤ {high:g}" if low_inclusive else f"{low:g} < {column} ≤ {high:g}"
        )
        raise located.error(frame.index[i], f"{column} {value:g} is out of range ({bound})")


def to_epoch_seconds(values: pd.Series, located: Located, column: str = "timestamp") -> np.ndarray:
    """Epoch seconds from numbers, numeric text or ISO-8601 datetimes.

    The kind is decided by the first value (numbers vs. dates), so a file mixing the two is
    reported at its first odd row rather than silently half-parsed. Naive datetimes are UTC.

    Returns:
        int64 seconds, one per row of ``values``.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values.dt.tz_localize("UTC") if values.dt.tz is None else values
        _first_missing(stamps.isna().to_numpy(), values, located, column)
        return _seconds(stamps)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(np.float64)
        _first_missing(np.isnan(numbers), values, located, column)
        bad = ~np.isfinite(numbers)
        if bad.any():
            i = int(np.argmax(bad))
            raise located.error(values.index[i], f"{column} {numbers[i]!r} is not a finite number")
        return np.floor(numbers).astype(np.int64)
    text = values.astype("str")
    missing = values.isna().to_numpy() | (text.str.strip() == "").to_numpy()
    _first_missing(missing, values, located, column)
    numbers = pd.to_numeric(text, errors="coerce")
    if not np.isnan(numbers.iat[0]):
        bad = ~np.isfinite(numbers.to_numpy(np.float64))
        if bad.any():
            i = int(np.argmax(bad))
            raise located.error(
                values.index[i], f"{column} {text.iat[i]!r} is not a number (epoch seconds)"
            )
        return np.floor(numbers.to_numpy(np.float64)).astype(np.int64)
    stamps = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad = stamps.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise located.error(
            values.index[i],
            f"{column} {text.iat[i]!r} is neither epoch seconds nor an ISO-8601 datetime",
        )
    return _seconds(stamps)


def first_bad(
    mask: np.ndarray | pd.Series,
    frame: pd.DataFrame,
    located: Located,
    problem: Callable[[int], str],
) -> None:
    """Raise at the first row where ``mask`` is True; ``problem(i)`` words it for row ``i``."""
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        i = int(np.argmax(mask))
        raise located.error(frame.index[i], problem(i))


# --- internals -------------------------------------------------------------------------------


def _read(
    path: Path, spec: FieldLayout, header: bool, kinds: Mapping[str, str]
) -> pd.DataFrame | None:
    dtype: dict[int, object] = {spec.position(j): str for j in range(len(spec.names))}
    for j, name in enumerate(spec.names):
        if name in kinds:
            dtype[spec.position(j)] = kinds[name]
    return read_layout(path, spec, header, dtype)


def _fast_path_ok(frame: pd.DataFrame, spec: FieldLayout, required: Sequence[str]) -> bool:
    if frame.shape[1] != spec.width:
        return False
    frame.dropna(how="all", inplace=True)  # blank lines; the index keeps their place
    cols = [spec.position(spec.names.index(n)) for n in required]
    if frame[cols].isna().to_numpy().any():
        return False
    if spec.double:
        fillers = [spec.position(j) + 1 for j in range(len(spec.names) - 1)]
        if frame[fillers].notna().to_numpy().any():
            return False
    return True


def _first_missing(missing: np.ndarray, values: pd.Series, located: Located, column: str) -> None:
    if missing.any():
        i = int(np.argmax(missing))
        raise located.error(values.index[i], f"missing {column}")


def _seconds(stamps: pd.Series) -> np.ndarray:
    delta = stamps.dt.tz_convert("UTC") - pd.Timestamp(0, tz="UTC")
    return (delta // pd.Timedelta(seconds=1)).to_numpy(np.int64)
