"""The injection's working state: real events as arrays, added events as pieces, the accounts.

Every injector reads the genuine data and writes through :class:`State`, so that real users are
never drawn twice (nobody is both shared and hijacked), attacked items never collide, and the
engine can assemble one consistent result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from graphrec.anomaly.attack_models import RatingStats
from graphrec.anomaly.inject.config import InjectionConfig
from graphrec.anomaly.labels import (
    ABNORMAL_VIEWING,
    ACCOUNT_SHARING,
    BOT_CONSISTENCY,
    COORDINATED_RING,
    GENUINE,
    HIJACKED,
    LOVE_HATE,
    MIXED_SHILLING,
    NORMAL,
    OBFUSCATED_SHILLING,
    POWER_ITEM,
    POWER_USER,
    REVERSE_BANDWAGON,
    REVIEW_BOMBING,
    SAMPLING,
    SHILLING_PUSH,
)
from graphrec.data.ratings import Ratings

log = logging.getLogger(__name__)

# One random stream per type (and attack index), so enabling a type changes nothing another
# type produces. Never renumber: the numbers are part of what a seed means.
STREAMS = {
    ACCOUNT_SHARING: 1,
    SHILLING_PUSH: 2,
    REVIEW_BOMBING: 3,
    BOT_CONSISTENCY: 4,
    ABNORMAL_VIEWING: 5,
    OBFUSCATED_SHILLING: 6,
    HIJACKED: 7,
    SAMPLING: 8,
    LOVE_HATE: 9,
    REVERSE_BANDWAGON: 10,
    POWER_USER: 11,
    POWER_ITEM: 12,
    MIXED_SHILLING: 13,
    COORDINATED_RING: 14,
}


def rng_stream(seed: int, kind: str, index: int = 0) -> np.random.Generator:
    """An independent random stream per (seed, type, attack index)."""
    return np.random.default_rng([seed, STREAMS[kind], index])


@dataclass
class Account:
    type: str
    model: str
    source: str
    meta_user: int  # genuine user whose metadata row the account shows


@dataclass
class State:
    """Mutable working copy: real events as arrays, added events as pieces, the account registry."""

    ratings: Ratings
    stats: RatingStats
    config: InjectionConfig
    account: np.ndarray = field(init=False)
    time: np.ndarray = field(init=False)
    keep: np.ndarray = field(init=False)
    label: np.ndarray = field(init=False)
    type: np.ndarray = field(init=False)
    model: np.ndarray = field(init=False)
    role: np.ndarray = field(init=False)
    rows_ptr: np.ndarray = field(init=False)
    rows_order: np.ndarray = field(init=False)
    available: np.ndarray = field(init=False)
    accounts: dict[str, Account] = field(init=False)
    pieces: list[dict[str, np.ndarray]] = field(default_factory=list)
    target_rows: list[tuple[int, str, str, str]] = field(default_factory=list)
    used_targets: set[int] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ev = self.ratings.events
        n = len(ev)
        users = ev["user"].to_numpy()
        self.account = self.ratings.user_ids[users].astype(object)
        self.time = ev["timestamp"].to_numpy(np.int64).copy()
        self.keep = np.ones(n, dtype=bool)
        self.label = np.zeros(n, dtype=np.int8)
        self.type = np.full(n, NORMAL, dtype=object)
        self.model = np.full(n, "", dtype=object)
        self.role = np.full(n, GENUINE, dtype=object)
        self.rows_order = np.lexsort((self.time, users))
        self.rows_ptr = np.concatenate(
            [[0], np.cumsum(np.bincount(users, minlength=self.ratings.num_users))]
        )
        self.available = np.diff(self.rows_ptr) > 0
        self.accounts = {
            str(raw): Account(NORMAL, "", str(raw), u)
            for u, raw in enumerate(self.ratings.user_ids)
            if self.available[u]
        }

    @property
    def genuine(self) -> int:
        return int((np.diff(self.rows_ptr) > 0).sum())

    def count(self, size: float) -> int:
        return int(round(size * self.genuine))

    def rows_of(self, user: int) -> np.ndarray:
        """Event rows of a genuine user, sorted by time."""
        return self.rows_order[self.rows_ptr[user] : self.rows_ptr[user + 1]]

    def items_of(self, user: int) -> np.ndarray:
        return self.ratings.events["item"].to_numpy()[self.rows_of(user)]

    def take_users(
        self, rng: np.random.Generator, k: int, eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """``k`` distinct genuine users not yet touched by another anomaly (fewer if short)."""
        pool = self.available if eligible is None else self.available & eligible
        candidates = np.flatnonzero(pool)
        if len(candidates) < k:
            log.warning("only %d eligible real users for %d requested", len(candidates), k)
            k = len(candidates)
        chosen = rng.choice(candidates, size=k, replace=False) if k else candidates[:0]
        self.available[chosen] = False
        return np.sort(chosen)

    def new_account(self, kind: str, model: str, rng: np.random.Generator) -> str:
        """A new account of ``kind``; its name skips the data's own ids (ratings that already
        hold injected accounts, e.g. when simulated attacks are planted into injected data)."""
        n = self.counters.get(kind, 0)
        while (name := f"{self.config.fake_prefix}{kind}_{n}") in self.accounts:
            n += 1
        self.counters[kind] = n + 1
        meta = int(rng.choice(np.flatnonzero(np.diff(self.rows_ptr) > 0)))
        self.accounts[name] = Account(kind, model, name, meta)
        return name

    def mark(self, user: int, kind: str, model: str = "") -> str:
        raw = str(self.ratings.user_ids[user])
        self.accounts[raw].type = kind
        self.accounts[raw].model = model
        return raw

    def add(
        self,
        account: str,
        items: np.ndarray,
        ratings: np.ndarray,
        times: np.ndarray,
        kind: str,
        model: str,
        roles: np.ndarray | str,
    ) -> None:
        n = len(items)
        self.pieces.append(
            {
                "account": np.full(n, account, dtype=object),
                "item": np.asarray(items, dtype=np.int64),
                "rating": np.asarray(ratings, dtype=np.float64),
                "timestamp": np.asarray(times, dtype=np.int64),
                "label": np.ones(n, dtype=np.int8),
                "type": np.full(n, kind, dtype=object),
                "model": np.full(n, model, dtype=object),
                "role": np.broadcast_to(np.asarray(roles, dtype=object), (n,)),
            }
        )

    def add_targets(self, items: np.ndarray, kind: str, model: str, direction: str) -> None:
        for item in items:
            self.target_rows.append((int(item), kind, model, direction))
            self.used_targets.add(int(item))

    def popularity_band(self, quantiles: tuple[float, float]) -> np.ndarray:
        """Unused rated items (>= 5 events where possible) in a popularity quantile band."""
        count = self.stats.item_count
        rated = np.flatnonzero(count > 0)
        lo, hi = np.quantile(count[rated], quantiles)
        floor = max(lo, min(5, count[rated].max()))
        band = rated[(count[rated] >= floor) & (count[rated] <= hi)]
        return band[~np.isin(band, list(self.used_targets))]

    def choose_targets(
        self,
        rng: np.random.Generator,
        k: int,
        given: tuple[str, ...],
        quantiles: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """The given raw ids, or ``k`` unused items of a popularity band (the configured one by
        default)."""
        if given:
            return np.array([self.ratings.item_index(t) for t in given], dtype=np.int64)
        band = self.popularity_band(quantiles or self.config.target_popularity)
        if len(band) < k:
            rated = np.flatnonzero(self.stats.item_count > 0)
            band = rated[~np.isin(rated, list(self.used_targets))]
        if len(band) < k:
            raise ValueError(f"cannot choose {k} unused target items among {len(band)}")
        return np.sort(rng.choice(band, size=k, replace=False))
