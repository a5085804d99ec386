"""A platform's own rating log as CSV (or TSV) or Parquet: ``user_id,item_id,rating[,timestamp]``.

Ids are arbitrary strings (kept verbatim, leading zeros included). The timestamp column is
optional: without it the row order stands in for time and ``has_timestamps`` is False, so the
leave-one-out split still follows the log's order. Timestamps may be epoch seconds or ISO-8601
datetimes (naive ones read as UTC). Other columns are allowed and ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.ratings import Ratings, from_raw_events
from graphrec.data.sources.parsing import (
    check_nonempty,
    check_range,
    first_bad,
    read_fields,
    read_header,
    require_columns,
    to_epoch_seconds,
)
from graphrec.errors import DataError, Located

RATING_LOW, RATING_HIGH = 0.0, 10.0
"""Accepted ratings: 0 < r ≤ 10 (stars, half stars, ten-point scales)."""

REQUIRED = ("user_id", "item_id", "rating")
EXPECTED = "user_id,item_id,rating[,timestamp]"
ALIASES = {"userId": "user_id", "itemId": "item_id", "movieId": "item_id"}
"""Column names of other common logs (MovieLens CSV) read as the canonical ones."""

PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: Path, name: str | None = None) -> Ratings:
    """Read a CSV (``.csv``; ``.tsv`` is tab-separated) or Parquet rating log.

    Args:
        path: the file.
        name: label of the result; the file's stem by default.
    """
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame, located = _read_parquet(path)
    else:
        frame, located = _read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    check_range(frame, "rating", located, low=RATING_LOW, high=RATING_HIGH, low_inclusive=False)
    events = frame[list(REQUIRED)].copy()
    has_timestamps = "timestamp" in frame.columns
    if has_timestamps:
        events["timestamp"] = to_epoch_seconds(frame["timestamp"], located)
    return from_raw_events(events, name=name or path.stem, has_timestamps=has_timestamps)


def _read_csv(path: Path, sep: str) -> tuple[pd.DataFrame, Located]:
    header = [ALIASES.get(c, c) for c in read_header(path, sep=sep, quoted=True)]
    require_columns(path, header, REQUIRED, EXPECTED)
    keep = [*REQUIRED, "timestamp"]
    return read_fields(
        path,
        header,
        sep=sep,
        header=True,
        kinds={"rating": "float64"},
        optional=[c for c in header if c not in keep],
        quoted=True,
    )


def _read_parquet(path: Path) -> tuple[pd.DataFrame, Located]:
    check_nonempty(path, text=False)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})"
        ) from None
    frame = frame.rename(columns=ALIASES).reset_index(drop=True)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, frame.columns))}; expected {EXPECTED})"
        )
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    located = Located(path, None)
    for column in ("user_id", "item_id"):
        first_bad(
            frame[column].isna().to_numpy(), frame, located, lambda i, c=column: f"missing {c}"
        )
        frame[column] = _id_text(frame[column])
    rating = frame["rating"]
    if not pd.api.types.is_numeric_dtype(rating) or pd.api.types.is_bool_dtype(rating):
        numbers = pd.to_numeric(rating.astype("str"), errors="coerce")
        first_bad(
            rating.notna().to_numpy() & numbers.isna().to_numpy(),
            frame,
            located,
            lambda i: f"rating {rating.iat[i]!r} is not a number",
        )
        frame["rating"] = numbers
    frame["rating"] = frame["rating"].astype(np.float64)
    return frame, located


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text; whole-valued float ids (ints widened by a NaN elsewhere) lose the ``.0``."""
    if pd.api.types.is_float_dtype(values):
        numbers = values.to_numpy(np.float64)
        if (numbers == np.round(numbers)).all():
            return pd.Series(numbers.astype(np.int64), index=values.index).astype("str")
    return values.astype("str")
