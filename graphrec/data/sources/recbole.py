"""RecBole atomic files (Zhao et al., "RecBole: Towards a Unified, Comprehensive and Efficient
Framework for Recommendation Algorithms", CIKM 2021): reading and writing.

An atomic dataset is ``<name>.inter`` plus optional ``<name>.item`` and ``<name>.user``:
tab-separated, no quoting, with a typed header (``user_id:token item_id:token rating:float
timestamp:float``). ``token_seq`` fields are space-separated tokens, so an item's title is one
``token_seq`` field and its genres another (``class:token_seq`` in RecBole's MovieLens files).

:func:`write_atomic` is the exact inverse of :func:`read_atomic` for a :class:`Ratings` built by
:func:`from_raw_events`: it is how synthetic data is handed to RecBole-based tools and back.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data.ratings import Ratings, from_raw_events
from graphrec.data.sources.parsing import (
    check_range,
    first_bad,
    read_fields,
    read_header,
    require_columns,
)
from graphrec.errors import DataError, format_location
from graphrec.io import atomic_write

logger = logging.getLogger(__name__)

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
RATING_LOW, RATING_HIGH = 0.0, 10.0
"""Generic range for atomic files (RecBole datasets are not all 1–5 stars): 0 < r ≤ 10."""

TITLE_FIELDS = ("movie_title", "title")
YEAR_FIELDS = ("release_year", "year")
GENRE_FIELDS = ("class", "genre", "genres")
_BLANKS = re.compile(r"[\t\r\n]+")


def find_inter(folder: Path) -> Path:
    """The one ``.inter`` file of a folder (``<folder name>.inter`` wins when there are several)."""
    folder = Path(folder)
    found = sorted(folder.glob("*.inter"))
    if not found:
        raise DataError(f"{folder}: missing required file <name>.inter (RecBole interactions)")
    if len(found) == 1:
        return found[0]
    preferred = folder / f"{folder.name}.inter"
    if preferred in found:
        return preferred
    names = ", ".join(p.name for p in found)
    raise DataError(f"{folder}: several .inter files ({names}); pass the one to read")


def read_atomic(path: Path, name: str | None = None) -> Ratings:
    """Read RecBole atomic files.

    Args:
        path: a ``.inter`` file, or a folder holding one; ``.item`` and ``.user`` files with the
            same stem beside it are read when present.
        name: label of the result; the ``.inter`` stem by default.

    The ``.inter`` file needs ``user_id``, ``item_id`` and ``rating`` (0 < r ≤ 10); a
    ``timestamp`` is optional (without one, row order stands in and ``has_timestamps`` is False).
    """
    path = Path(path)
    inter = find_inter(path) if path.is_dir() else path
    stem = inter.with_suffix("")
    fields = _typed_header(inter)
    require_columns(
        inter,
        list(fields),
        ("user_id", "item_id", "rating"),
        "user_id, item_id, rating[, timestamp]",
    )
    numeric = ["rating"] + (["timestamp"] if "timestamp" in fields else [])
    for column in numeric:
        if fields[column] != "float":
            raise DataError(f"{format_location(inter, 1)}: {column} must be typed float")
    frame, located = read_fields(
        inter,
        list(fields),
        sep="\t",
        header=True,
        kinds={c: "float64" for c in numeric},
        optional=[c for c in fields if c not in ("user_id", "item_id", *numeric)],
    )
    check_range(frame, "rating", located, low=RATING_LOW, high=RATING_HIGH, low_inclusive=False)
    events = frame[["user_id", "item_id", "rating"]].copy()
    if "timestamp" in fields:
        stamps = frame["timestamp"].to_numpy(np.float64)
        first_bad(~np.isfinite(stamps), frame, located, lambda i: "timestamp is not finite")
        events["timestamp"] = np.floor(stamps).astype(np.int64)
    item_file, user_file = stem.with_suffix(".item"), stem.with_suffix(".user")
    items = _read_items(item_file) if item_file.is_file() else None
    users = _read_users(user_file) if user_file.is_file() else None
    return from_raw_events(
        events,
        items=items,
        users=users,
        name=name or stem.name,
        has_timestamps="timestamp" in fields,
    )


def write_atomic(ratings: Ratings, folder: Path, name: str) -> Path:
    """Write ``ratings`` as ``<folder>/<name>.inter``, ``.item`` and (when present) ``.user``.

    Each file is written to a temporary file in ``folder`` and moved into place, so a reader
    never sees half a file. A stale ``<name>.user`` is removed when ``ratings`` has no users.
    Tabs and newlines inside text are written as spaces and spaces inside a genre name as
    ``_`` (neither can be represented in the format).

    Args:
        ratings: the table to write.
        folder: destination folder (created if needed).
        name: the dataset's stem, e.g. ``"ml-100k-synthetic"``.

    Returns:
        The ``.inter`` path (what :func:`read_atomic` and ``load_ratings`` accept).
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad dataset name {name!r}: expected a plain file stem")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    events = ratings.events
    user_raw = _clean_ids(ratings.user_ids, "user")
    item_raw = _clean_ids(ratings.item_ids, "item")
    inter_path = folder / f"{name}.inter"
    write_inter(events, ratings, inter_path)

    items = ratings.items
    year = items["year"].to_numpy(np.float64)
    item_frame = pd.DataFrame(
        {
            "item_id:token": item_raw,
            "movie_title:token_seq": [_clean_text(t) for t in items["title"]],
            "release_year:token": ["" if np.isnan(y) else str(int(y)) for y in year],
            "class:token_seq": [" ".join(_clean_genre(g) for g in gs) for gs in items["genres"]],
        }
    )
    _write_frame(item_frame, folder / f"{name}.item")

    user_path = folder / f"{name}.user"
    if ratings.users is not None:
        _write_frame(_user_frame(ratings.users, user_raw), user_path)
    elif user_path.exists():
        user_path.unlink()
    logger.info("wrote %s (%d events) as RecBole atomic files", inter_path, ratings.num_events)
    return inter_path


def write_inter(events: pd.DataFrame, ratings: Ratings, path: Path) -> Path:
    """Write ``events`` (rows of ``ratings.events``' layout) as a RecBole ``.inter`` file, in
    their row order, atomically."""
    inter = pd.DataFrame(
        {
            "user_id:token": _clean_ids(ratings.user_ids, "user")[events["user"].to_numpy()],
            "item_id:token": _clean_ids(ratings.item_ids, "item")[events["item"].to_numpy()],
            "rating:float": events["rating"].to_numpy(np.float32),
        }
    )
    if ratings.has_timestamps:
        inter["timestamp:float"] = events["timestamp"].to_numpy(np.int64)
    _write_frame(inter, path)
    return path


def _typed_header(path: Path) -> dict[str, str]:
    """``{field name: type}`` from a ``name:type`` header line."""
    fields: dict[str, str] = {}
    for column in read_header(path, sep="\t"):
        field, _, kind = column.rpartition(":")
        if not field or kind not in FIELD_TYPES:
            raise DataError(
                f"{format_location(path, 1)}: header field {column!r} is not name:type "
                f"(type one of {', '.join(FIELD_TYPES)})"
            )
        if field in fields:
            raise DataError(f"{format_location(path, 1)}: repeated field {field!r}")
        fields[field] = kind
    return fields


def _pick(fields: dict[str, str], choices: Sequence[str]) -> str | None:
    return next((c for c in choices if c in fields), None)


def _read_items(path: Path) -> pd.DataFrame:
    fields = _typed_header(path)
    require_columns(path, list(fields), ("item_id",), "item_id and item features")
    frame, _ = read_fields(
        path, list(fields), sep="\t", header=True, optional=[c for c in fields if c != "item_id"]
    )
    title, year, genre = (_pick(fields, c) for c in (TITLE_FIELDS, YEAR_FIELDS, GENRE_FIELDS))
    out = pd.DataFrame(index=pd.Index(frame["item_id"].to_numpy(dtype=object), dtype=object))
    if title is not None:
        out["title"] = frame[title].fillna("").to_numpy(dtype=object)
    if year is not None:
        out["year"] = pd.to_numeric(frame[year], errors="coerce").to_numpy(np.float64)
    if genre is not None:
        out["genres"] = [
            tuple(g.split()) if isinstance(g, str) else () for g in frame[genre].to_numpy(object)
        ]
    return out


def _read_users(path: Path) -> pd.DataFrame:
    """User features; ``float`` fields become numbers (int64 when all are whole), others text."""
    fields = _typed_header(path)
    require_columns(path, list(fields), ("user_id",), "user_id and user features")
    numeric = {c: "float64" for c, kind in fields.items() if kind == "float" and c != "user_id"}
    frame, _ = read_fields(
        path,
        list(fields),
        sep="\t",
        header=True,
        kinds=numeric,
        optional=[c for c in fields if c != "user_id"],
    )
    out = frame.drop(columns="user_id").set_axis(frame["user_id"].to_numpy(dtype=object), axis=0)
    for column in numeric:
        values = out[column].to_numpy(np.float64)
        whole = np.isfinite(values).all() and (values == np.round(values)).all()
        if whole:  # RecBole has no int type: ages and codes come back as the ints they were
            out[column] = values.astype(np.int64)
    return out


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Tab-separated with a header, atomically."""
    atomic_write(
        path,
        lambda tmp: frame.to_csv(
            tmp,
            sep="\t",
            index=False,
            lineterminator="\n",
            quoting=csv.QUOTE_NONE,
            encoding="utf-8",
        ),
    )


def _clean_ids(ids: np.ndarray, what: str) -> np.ndarray:
    raw = np.asarray([str(i) for i in ids], dtype=object)
    bad = [r for r in raw if not r or _BLANKS.search(r)]
    if bad:
        raise ValueError(f"{what} id {bad[0]!r} cannot be written as a RecBole token")
    return raw


def _clean_text(value: object) -> str:
    return _BLANKS.sub(" ", str(value))


def _clean_genre(genre: str) -> str:
    cleaned = re.sub(r"\s+", "_", str(genre).strip())
    if cleaned != genre:
        logger.warning("genre %r written as %r (token_seq splits on spaces)", genre, cleaned)
    return cleaned


def _user_frame(users: pd.DataFrame, user_raw: np.ndarray) -> pd.DataFrame:
    columns: dict[str, object] = {"user_id:token": user_raw}
    for column in users.columns:
        if column == "user_id":
            continue
        values = users[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric:
            columns[f"{column}:float"] = values.to_numpy()
        else:
            columns[f"{column}:token"] = [
                "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                else _clean_text(v)
                for v in values.to_numpy(object)
            ]  # fmt: skip
    return pd.DataFrame(columns)
