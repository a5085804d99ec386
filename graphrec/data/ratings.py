"""The canonical ratings table every reader produces and every model consumes.

Readers differ in formats and raw id types; everything downstream sees one shape: contiguous
0-based user and item ids, the maps back to raw ids, and item/user metadata aligned to those ids.
Repeated (user, item) events are kept: re-watching is behaviour, not noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graphrec.errors import DataError

EVENT_COLUMNS = ("user", "item", "rating", "timestamp")
ITEM_COLUMNS = ("title", "year", "genres")


@dataclass
class Ratings:
    """Events with contiguous ids plus metadata.

    Attributes:
        events: one row per event; columns ``user`` (int64, 0..num_users-1), ``item`` (int64,
            0..num_items-1), ``rating`` (float32), ``timestamp`` (int64 seconds; when the source
            had none, the event's row order, and ``has_timestamps`` is False).
        user_ids: raw id of each contiguous user id, as strings.
        item_ids: raw id of each contiguous item id, as strings.
        items: item metadata indexed 0..num_items-1 with ``title`` (str), ``year`` (float, NaN
            unknown) and ``genres`` (tuple of str).
        users: user metadata indexed 0..num_users-1 (columns as the source gives), or None.
        name: a short label of where the data came from.
        has_timestamps: whether ``timestamp`` holds real times.
    """

    events: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    items: pd.DataFrame
    users: pd.DataFrame | None = None
    name: str = "ratings"
    has_timestamps: bool = True
    _user_index: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _item_index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [c for c in EVENT_COLUMNS if c not in self.events.columns]
        if missing:
            raise DataError(f"{self.name}: events lack columns {missing}")
        if len(self.events) == 0:
            raise DataError(f"{self.name}: no events")
        if self.events["user"].max() >= len(self.user_ids) or self.events["user"].min() < 0:
            raise DataError(
                f"{self.name}: user ids are not contiguous in 0..{len(self.user_ids) - 1}"
            )
        if self.events["item"].max() >= len(self.item_ids) or self.events["item"].min() < 0:
            raise DataError(
                f"{self.name}: item ids are not contiguous in 0..{len(self.item_ids) - 1}"
            )
        if self.events["rating"].isna().any():
            raise DataError(f"{self.name}: NaN ratings")
        if len(self.items) != len(self.item_ids):
            raise DataError(
                f"{self.name}: {len(self.items)} item metadata rows for {len(self.item_ids)} items"
            )

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_events(self) -> int:
        return len(self.events)

    def user_index(self, raw_id: str | int) -> int:
        """Contiguous id of a raw user id; a clear error for an unknown one."""
        if self._user_index is None:
            self._user_index = {str(r): i for i, r in enumerate(self.user_ids)}
        try:
            return self._user_index[str(raw_id)]
        except KeyError:
            raise DataError(f"unknown user id {raw_id!r} in {self.name}") from None

    def item_index(self, raw_id: str | int) -> int:
        """Contiguous id of a raw item id; a clear error for an unknown one."""
        if self._item_index is None:
            self._item_index = {str(r): i for i, r in enumerate(self.item_ids)}
        try:
            return self._item_index[str(raw_id)]
        except KeyError:
            raise DataError(f"unknown item id {raw_id!r} in {self.name}") from None

    def title(self, item: int) -> str:
        return str(self.items["title"].iat[item])

    def subset_events(self, mask: np.ndarray | pd.Series) -> Ratings:
        """The same id space and metadata over a subset of events (ids are not re-indexed)."""
        return Ratings(
            events=self.events[np.asarray(mask)].reset_index(drop=True),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            items=self.items,
            users=self.users,
            name=self.name,
            has_timestamps=self.has_timestamps,
        )


def from_raw_events(
    frame: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    name: str = "ratings",
    has_timestamps: bool = True,
) -> Ratings:
    """Build a :class:`Ratings` from raw ids.

    Args:
        frame: columns ``user_id``, ``item_id``, ``rating`` and optionally ``timestamp``; ids of
            any type (kept as strings).
        items: optional metadata indexed by raw item id (as string) with any of ``title``,
            ``year``, ``genres``; items it lists that nobody rated are kept in the catalogue.
        users: optional metadata indexed by raw user id (as string).
        name: label used in error messages.
        has_timestamps: False when ``timestamp`` is absent or a stand-in for row order.
    """
    if "timestamp" in frame.columns:
        timestamps = frame["timestamp"].to_numpy(np.int64)
    else:
        timestamps = np.arange(len(frame), dtype=np.int64)
        has_timestamps = False
    user_codes, user_ids = _sorted_codes(frame["user_id"])
    extra_items = None if items is None else np.asarray([str(i) for i in items.index], dtype=object)
    item_codes, item_ids = _sorted_codes(frame["item_id"], extra_items)
    events = pd.DataFrame(
        {
            "user": user_codes,
            "item": item_codes,
            "rating": frame["rating"].to_numpy(np.float32),
            "timestamp": timestamps,
        }
    )
    return Ratings(
        events=events,
        user_ids=user_ids,
        item_ids=item_ids,
        items=_align_items(items, item_ids),
        users=None if users is None else _align_users(users, user_ids),
        name=name,
        has_timestamps=has_timestamps,
    )


def _sorted_codes(raw: pd.Series, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous codes of ``raw`` ids, numbered in natural order of the ids (plus ``extra`` ids).

    ``pd.factorize`` hashes the column once in its own dtype (fast even for 20M events); only the
    distinct ids are turned into strings and sorted, so id order, not first appearance, decides
    the contiguous ids.
    """
    codes, uniques = pd.factorize(raw)
    names = [str(u) for u in uniques]
    pool = set(names) if extra is None else set(names) | set(extra.tolist())
    sorted_ids = np.asarray(sorted(pool, key=_natural_key), dtype=object)
    position = {raw_id: i for i, raw_id in enumerate(sorted_ids)}
    rank = np.fromiter((position[n] for n in names), dtype=np.int64, count=len(names))
    return rank[codes], sorted_ids


def _natural_key(raw: str) -> tuple[int, int | str]:
    """Sort numeric raw ids numerically (so ml-100k user 2 stays id 1), others as text."""
    return (0, int(raw)) if raw.isdigit() else (1, raw)


def _align_items(items: pd.DataFrame | None, item_ids: np.ndarray) -> pd.DataFrame:
    if items is None:
        items = pd.DataFrame(index=pd.Index([], dtype=object))
    items = items.copy()
    items.index = items.index.astype(str)
    items = items[~items.index.duplicated()].reindex(item_ids)
    title = items["title"] if "title" in items else pd.Series(index=items.index, dtype=object)
    year = items["year"] if "year" in items else pd.Series(index=items.index, dtype=float)
    genres = items["genres"] if "genres" in items else pd.Series(index=items.index, dtype=object)
    return pd.DataFrame(
        {
            "title": [
                str(t) if isinstance(t, str) and t else f"item {raw}"
                for t, raw in zip(title, item_ids, strict=True)
            ],
            "year": pd.to_numeric(year, errors="coerce").astype(float).to_numpy(),
            "genres": [tuple(g) if isinstance(g, (tuple, list)) else () for g in genres],
        }
    ).reset_index(drop=True)


def _align_users(users: pd.DataFrame, user_ids: np.ndarray) -> pd.DataFrame:
    users = users.copy()
    users.index = users.index.astype(str)
    return users[~users.index.duplicated()].reindex(user_ids).reset_index(drop=True)
