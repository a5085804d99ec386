"""Anomaly type names, event roles and the label tables every injector and detector shares.

The names are defined once here so the injector, the detectors, the evaluation (per-type recall)
and the CLI's label files agree. Two tables carry the ground truth:

* accounts — one row per account (user) of the injected ratings: ``user`` (contiguous id),
  ``user_id`` (raw id), ``label`` (1 = anomalous), ``type`` (:data:`NORMAL` or an anomaly type),
  ``model`` (the attack model for shilling-like types, else ``""``) and ``source`` (where the
  account came from: its own raw id, the raw ids merged into a shared account joined by ``;``, or
  the generated name of a fake account);
* events — one row per event, aligned row for row with ``Ratings.events``: the event columns plus
  ``label`` (1 = the event was produced by the anomaly), ``type``, ``model`` and ``role``.

Event labels are finer than account labels: a hijacked account keeps its genuine early events
(label 0) and only the campaign is labeled 1; an account-sharing account labels its owner's events
0 and the guests' events 1; real users who took part in a review bombing or an abnormal viewing
burst have only the added events labeled 1. Every event of a fake account is labeled 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NORMAL = "normal"

# Step-1 types (the competition brief's five behaviours; shilling split by direction).
ACCOUNT_SHARING = "account_sharing"
SHILLING_PUSH = "shilling_push"
SHILLING_NUKE = "shilling_nuke"
REVIEW_BOMBING = "review_bombing"
BOT_CONSISTENCY = "bot_consistency"
ABNORMAL_VIEWING = "abnormal_viewing"

# Step-2-only types: never shown with a label in step 1, so detectors must generalize to them.
OBFUSCATED_SHILLING = "obfuscated_shilling"
HIJACKED = "hijacked"
SAMPLING = "sampling"

STEP1_TYPES: tuple[str, ...] = (
    ACCOUNT_SHARING,
    SHILLING_PUSH,
    SHILLING_NUKE,
    REVIEW_BOMBING,
    BOT_CONSISTENCY,
    ABNORMAL_VIEWING,
)
STEP2_ONLY_TYPES: tuple[str, ...] = (OBFUSCATED_SHILLING, HIJACKED, SAMPLING)

# Families the shilling literature evaluates on, beyond the two-step task: for leave-one-type-out
# benchmarks of detectors against designs they were not built for (see ``inject.full_config``).
LOVE_HATE = "love_hate"  # Mobasher et al. 2007
REVERSE_BANDWAGON = "reverse_bandwagon"  # Mobasher et al. 2007
POWER_USER = "power_user"  # Wilson & Seminario 2013; Seminario & Wilson 2014
POWER_ITEM = "power_item"  # Seminario & Wilson 2014
MIXED_SHILLING = "mixed_shilling"  # Williams, Mobasher & Burke 2007: one campaign, several models
COORDINATED_RING = "coordinated_ring"  # fakes that each copy part of a distinct real profile
LITERATURE_TYPES: tuple[str, ...] = (
    LOVE_HATE,
    REVERSE_BANDWAGON,
    POWER_USER,
    POWER_ITEM,
    MIXED_SHILLING,
    COORDINATED_RING,
)
ANOMALY_TYPES: tuple[str, ...] = STEP1_TYPES + STEP2_ONLY_TYPES + LITERATURE_TYPES
ALL_TYPES: tuple[str, ...] = (NORMAL,) + ANOMALY_TYPES

# Attack directions.
PUSH = "push"
NUKE = "nuke"
DIRECTIONS: tuple[str, ...] = (PUSH, NUKE)

# Shilling attack models (Lam & Riedl 2004; Mobasher et al. 2007). AoP = average over popular
# items (Hurley et al. 2009), the obfuscated model of step 2.
RANDOM = "random"
AVERAGE = "average"
BANDWAGON = "bandwagon"
SEGMENT = "segment"
AOP = "aop"
SHILLING_MODELS: tuple[str, ...] = (RANDOM, AVERAGE, BANDWAGON, SEGMENT)
# Models a mixed campaign may draw its profiles from; the two nuke-only ones need direction nuke.
NUKE_ONLY_MODELS: tuple[str, ...] = (LOVE_HATE, REVERSE_BANDWAGON)
MIXED_MODELS: tuple[str, ...] = SHILLING_MODELS + NUKE_ONLY_MODELS + (POWER_ITEM,)

# Event roles (the ``role`` column of the events table).
GENUINE = "genuine"  # a real user's own event
GUEST = "guest"  # a real event of another person, merged into a shared account
TARGET = "target"  # an event on an attacked item (push/nuke/bombing target)
SELECTED = "selected"  # bandwagon/segment selected items
FILLER = "filler"  # attack filler, or a fake account's cover activity
PATTERN = "pattern"  # a bot's constant or repeating-pattern rating
BURST = "burst"  # an event of an abnormal burst
REPEAT = "repeat"  # a repeated event on an item the account already rated
COPIED = "copied"  # a real profile's event copied into a fake account (the copying types)
ROLES: tuple[str, ...] = (GENUINE, GUEST, TARGET, SELECTED, FILLER, PATTERN, BURST, REPEAT, COPIED)

ACCOUNT_COLUMNS: tuple[str, ...] = ("user", "user_id", "label", "type", "model", "source")
EVENT_LABEL_COLUMNS: tuple[str, ...] = ("label", "type", "model", "role")
TARGET_COLUMNS: tuple[str, ...] = ("item", "item_id", "type", "model", "direction")


def validate_labels(accounts: pd.DataFrame, events: pd.DataFrame) -> None:
    """Check that the account and event tables tell one consistent story.

    Rules: every account has one row; label 0 iff type is :data:`NORMAL`; every anomalous event
    belongs to an anomalous account of the same type; every anomalous account has at least one
    anomalous event; types and roles are known names.

    Raises:
        ValueError: naming the first rule broken and an offending user.
    """
    missing = [c for c in ACCOUNT_COLUMNS if c not in accounts.columns]
    if missing:
        raise ValueError(f"accounts table lacks columns {missing}")
    missing = [c for c in ("user", *EVENT_LABEL_COLUMNS) if c not in events.columns]
    if missing:
        raise ValueError(f"events table lacks columns {missing}")
    if accounts["user"].duplicated().any():
        dup = accounts.loc[accounts["user"].duplicated(), "user"].iloc[0]
        raise ValueError(f"user {dup} has more than one account row")
    unknown = set(accounts["type"]) - set(ALL_TYPES)
    if unknown:
        raise ValueError(f"unknown account types {sorted(unknown)}")
    unknown_roles = set(pd.unique(events["role"])) - set(ROLES)
    if unknown_roles:
        raise ValueError(f"unknown event roles {sorted(unknown_roles)}")
    bad = accounts[(accounts["label"] == 1) != (accounts["type"] != NORMAL)]
    if len(bad):
        row = bad.iloc[0]
        raise ValueError(f"user {row['user']}: label {row['label']} with type {row['type']!r}")
    acc = accounts.set_index("user")
    is_anomalous = events["label"].to_numpy() == 1
    event_type = events["type"].astype(object).to_numpy()
    anomalous_users = events["user"].to_numpy()[is_anomalous]
    account_type = acc["type"].astype(object).reindex(anomalous_users).to_numpy()
    wrong = event_type[is_anomalous] != account_type
    if wrong.any():
        user = anomalous_users[wrong][0]
        raise ValueError(f"user {user}: an anomalous event's type differs from its account's")
    flagged = acc.index[acc["label"] == 1].to_numpy()
    without = np.setdiff1d(flagged, anomalous_users)
    if len(without):
        raise ValueError(f"anomalous user {without[0]} has no anomalous event")
    if (event_type[~is_anomalous] != NORMAL).any():
        raise ValueError("an event with label 0 carries an anomaly type")
