"""Run the injectors and assemble one consistent result: new ratings plus ground truth."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphrec.anomaly.attack_models import RatingStats
from graphrec.anomaly.inject.bombing import inject_bombing
from graphrec.anomaly.inject.bots import inject_bots
from graphrec.anomaly.inject.config import InjectionConfig
from graphrec.anomaly.inject.copying import inject_sampling
from graphrec.anomaly.inject.hijacked import inject_hijacked
from graphrec.anomaly.inject.love_hate import inject_love_hate
from graphrec.anomaly.inject.mixed import inject_mixed
from graphrec.anomaly.inject.obfuscated import inject_obfuscated
from graphrec.anomaly.inject.power import inject_power_item, inject_power_user
from graphrec.anomaly.inject.reverse_bandwagon import inject_reverse_bandwagon
from graphrec.anomaly.inject.ring import inject_ring
from graphrec.anomaly.inject.sharing import inject_sharing
from graphrec.anomaly.inject.shilling import inject_shilling
from graphrec.anomaly.inject.state import State, rng_stream
from graphrec.anomaly.inject.viewing import inject_viewing
from graphrec.anomaly.labels import (
    ABNORMAL_VIEWING,
    ACCOUNT_COLUMNS,
    ACCOUNT_SHARING,
    BOT_CONSISTENCY,
    COORDINATED_RING,
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
    TARGET_COLUMNS,
    validate_labels,
)
from graphrec.data.ratings import Ratings, from_raw_events

log = logging.getLogger(__name__)


@dataclass
class Injected:
    """Ratings with planted anomalies and their ground truth.

    Attributes:
        ratings: the new ratings (raw ids; item catalogue and metadata of the source kept).
        accounts: one row per user of ``ratings`` (columns ``labels.ACCOUNT_COLUMNS``), in
            contiguous-id order.
        events: ``ratings.events`` plus ``label``, ``type``, ``model``, ``role``, row for row.
        targets: the attacked items (columns ``labels.TARGET_COLUMNS``).
    """

    ratings: Ratings
    accounts: pd.DataFrame
    events: pd.DataFrame
    targets: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Accounts and anomalous events per type (for logs and reports)."""
        accounts = self.accounts.groupby("type").size().rename("accounts")
        events = self.events[self.events["label"] == 1].groupby("type").size()
        out = pd.concat([accounts, events.rename("anomalous_events")], axis=1)
        return out.fillna(0).astype(np.int64)


def inject(ratings: Ratings, config: InjectionConfig, seed: int = 0) -> Injected:
    """Plant the anomalies ``config`` asks for into ``ratings``; deterministic for ``seed``.

    Real users are drawn without overlap (nobody is both shared and hijacked). Fake accounts get
    raw ids ``<fake_prefix><type>_<n>`` (or anonymized ones) and the metadata row of a random
    genuine user. Without real timestamps the row order plays the role of time: injected events are
    placed among the real ones by the same samplers, and the result has ``has_timestamps=False``.
    Types run in a fixed order, each on its own random stream: adding a type never changes what
    the others produce.

    Returns:
        :class:`Injected` with the new ratings, account and event labels, and attacked items.
    """
    stats = RatingStats.from_ratings(ratings)
    state = State(ratings, stats, config)
    if config.sharing is not None:
        inject_sharing(state, config.sharing, rng_stream(seed, ACCOUNT_SHARING))
    for j, attack in enumerate(config.shilling):
        inject_shilling(state, attack, rng_stream(seed, SHILLING_PUSH, j))
    runs = (
        (config.bombing, REVIEW_BOMBING, inject_bombing),
        (config.bots, BOT_CONSISTENCY, inject_bots),
        (config.viewing, ABNORMAL_VIEWING, inject_viewing),
        (config.obfuscated, OBFUSCATED_SHILLING, inject_obfuscated),
        (config.hijacked, HIJACKED, inject_hijacked),
        (config.sampling, SAMPLING, inject_sampling),
        (config.love_hate, LOVE_HATE, inject_love_hate),
        (config.reverse_bandwagon, REVERSE_BANDWAGON, inject_reverse_bandwagon),
        (config.power_user, POWER_USER, inject_power_user),
        (config.power_item, POWER_ITEM, inject_power_item),
        (config.mixed, MIXED_SHILLING, inject_mixed),
        (config.ring, COORDINATED_RING, inject_ring),
    )
    for options, kind, injector in runs:
        if options is not None:
            injector(state, options, rng_stream(seed, kind))
    result = _assemble(state, seed)
    log.info("injected into %s:\n%s", ratings.name, result.summary().to_string())
    return result


def _assemble(state: State, seed: int) -> Injected:
    """Real and added events into one frame, then a fresh Ratings and aligned label tables."""
    ratings = state.ratings
    ev = ratings.events
    keep = state.keep
    real = {
        "account": state.account[keep],
        "item": ev["item"].to_numpy(np.int64)[keep],
        "rating": ev["rating"].to_numpy(np.float64)[keep],
        "timestamp": state.time[keep],
        "label": state.label[keep],
        "type": state.type[keep],
        "model": state.model[keep],
        "role": state.role[keep],
    }
    # Columns stay numpy until the end: building many small DataFrames of strings is slow.
    frame = {col: np.concatenate([real[col], *(p[col] for p in state.pieces)]) for col in real}
    order = np.argsort(frame["timestamp"], kind="stable")
    frame = {col: values[order] for col, values in frame.items()}

    names = {name: name for name in state.accounts}
    if state.config.anonymize_ids:
        names = _anonymous_names(ratings, sorted(state.accounts), seed)
    raw = pd.DataFrame(
        {
            "user_id": pd.Series(frame["account"]).map(names).to_numpy(),
            "item_id": ratings.item_ids[frame["item"]],
            "rating": frame["rating"],
        }
    )
    if ratings.has_timestamps:
        raw["timestamp"] = frame["timestamp"]
    items = ratings.items.set_axis(pd.Index(ratings.item_ids.astype(str)), axis=0)
    users = None
    if ratings.users is not None:
        rows = [state.accounts[a].meta_user for a in names]
        users = ratings.users.iloc[rows].set_axis(pd.Index(list(names.values())), axis=0)
    out = from_raw_events(
        raw,
        items=items,
        users=users,
        name=f"{ratings.name}+anomalies",
        has_timestamps=ratings.has_timestamps,
    )
    events = out.events.copy()
    events["label"] = frame["label"].astype(np.int64)
    for col in ("type", "model", "role"):
        events[col] = pd.Categorical(frame[col])

    back = {new: old for old, new in names.items()}
    registry = [state.accounts[back[str(u)]] for u in out.user_ids]
    accounts = pd.DataFrame(
        {
            "user": np.arange(out.num_users, dtype=np.int64),
            "user_id": out.user_ids.astype(str),
            "label": np.array([a.type != NORMAL for a in registry], dtype=np.int64),
            "type": [a.type for a in registry],
            "model": [a.model for a in registry],
            "source": [a.source for a in registry],
        },
        columns=list(ACCOUNT_COLUMNS),
    )
    targets = pd.DataFrame(
        [
            (out.item_index(ratings.item_ids[i]), str(ratings.item_ids[i]), kind, model, direction)
            for i, kind, model, direction in state.target_rows
        ],
        columns=list(TARGET_COLUMNS),
    )
    validate_labels(accounts, events)
    return Injected(ratings=out, accounts=accounts, events=events, targets=targets)


def _anonymous_names(ratings: Ratings, accounts: list[str], seed: int) -> dict[str, str]:
    """A random bijection onto ids of the source's style (numbers if its ids are numbers)."""
    rng = np.random.default_rng([seed, 99])
    numeric = all(str(u).isdigit() for u in ratings.user_ids)
    tokens = np.arange(1, len(accounts) + 1)
    rng.shuffle(tokens)
    width = len(str(len(accounts)))
    fmt = (lambda t: str(t)) if numeric else (lambda t: f"u{t:0{width}d}")
    return {a: fmt(int(t)) for a, t in zip(accounts, tokens, strict=True)}
