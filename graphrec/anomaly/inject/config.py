"""What to inject: :class:`InjectionConfig` and the ready-made mixes of the benchmarks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from graphrec.anomaly.inject.family_options import (
    LoveHateConfig,
    MixedConfig,
    PowerItemConfig,
    PowerUserConfig,
    ReverseBandwagonConfig,
    RingConfig,
)
from graphrec.anomaly.inject.options import (
    BombingConfig,
    BotConfig,
    HijackConfig,
    ObfuscatedConfig,
    SamplingConfig,
    SharingConfig,
    ShillingAttack,
    ViewingConfig,
)
from graphrec.anomaly.labels import (
    ABNORMAL_VIEWING,
    ACCOUNT_SHARING,
    ANOMALY_TYPES,
    AVERAGE,
    BANDWAGON,
    BOT_CONSISTENCY,
    COORDINATED_RING,
    HIJACKED,
    LOVE_HATE,
    MIXED_SHILLING,
    NUKE,
    OBFUSCATED_SHILLING,
    POWER_ITEM,
    POWER_USER,
    PUSH,
    RANDOM,
    REVERSE_BANDWAGON,
    REVIEW_BOMBING,
    SAMPLING,
    SEGMENT,
    SHILLING_NUKE,
    SHILLING_PUSH,
)


@dataclass(frozen=True)
class InjectionConfig:
    """Which anomalies to inject and how many (None / empty = that type is off).

    Attributes:
        shilling: classic push/nuke attacks, one entry each.
        sharing, bombing, bots, viewing: the other step-1 types.
        obfuscated, hijacked, sampling: step-2-only types.
        love_hate, reverse_bandwagon, power_user, power_item, mixed, ring: the literature's
            further families (see :mod:`graphrec.anomaly.inject.family_options`).
        filler_by_popularity: choose filler/cover items by popularity, as real users do (False:
            uniformly, the textbook setting that DegreeSAD-like features catch easily).
        target_popularity: popularity quantile range (among rated items) default push/nuke
            targets are drawn from — mid/low popularity, where an attack can move the ranking.
        fake_prefix: raw-id prefix of new accounts (``fake_<type>_<n>``).
        anonymize_ids: rename every account to a random id of the source's style, so that raw
            ids and their sort order leak nothing (the ``source`` column keeps the truth).
    """

    shilling: tuple[ShillingAttack, ...] = ()
    sharing: SharingConfig | None = None
    bombing: BombingConfig | None = None
    bots: BotConfig | None = None
    viewing: ViewingConfig | None = None
    obfuscated: ObfuscatedConfig | None = None
    hijacked: HijackConfig | None = None
    sampling: SamplingConfig | None = None
    love_hate: LoveHateConfig | None = None
    reverse_bandwagon: ReverseBandwagonConfig | None = None
    power_user: PowerUserConfig | None = None
    power_item: PowerItemConfig | None = None
    mixed: MixedConfig | None = None
    ring: RingConfig | None = None
    filler_by_popularity: bool = True
    target_popularity: tuple[float, float] = (0.2, 0.7)
    fake_prefix: str = "fake_"
    anonymize_ids: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.target_popularity
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"target_popularity must be 0 <= lo < hi <= 1, got {(lo, hi)}")


def step1_config() -> InjectionConfig:
    """All step-1 types, about 7 % anomalous accounts in all (the competition had 6.6 %)."""
    return InjectionConfig(
        shilling=(
            ShillingAttack(PUSH, AVERAGE, attack_size=0.01),
            ShillingAttack(PUSH, BANDWAGON, attack_size=0.005),
            ShillingAttack(NUKE, RANDOM, attack_size=0.005),
            ShillingAttack(PUSH, SEGMENT, attack_size=0.005),
        ),
        sharing=SharingConfig(size=0.01),
        bombing=BombingConfig(num_groups=1, group_size=12, series_size=2),
        bots=BotConfig(size=0.01),
        viewing=ViewingConfig(size=0.01),
    )


def step2_config() -> InjectionConfig:
    """Step-1 types plus the three step-2-only types."""
    return InjectionConfig(
        shilling=step1_config().shilling,
        sharing=SharingConfig(size=0.008),
        bombing=BombingConfig(num_groups=1, group_size=10, series_size=1),
        bots=BotConfig(size=0.008),
        viewing=ViewingConfig(size=0.008),
        obfuscated=ObfuscatedConfig(attack_size=0.01),
        hijacked=HijackConfig(size=0.01, direction=NUKE),
        sampling=SamplingConfig(attack_size=0.008),
    )


FULL_TYPES: tuple[str, ...] = ANOMALY_TYPES
"""Every anomaly type :func:`full_config` injects (all of them)."""


def full_config() -> InjectionConfig:
    """Every family at once, for leave-one-type-out benchmarks (each type in turn unlabeled).

    About 11 % anomalous accounts on ML-100K (943 users), 7–8 accounts per type — enough for a
    per-type recall, few enough that no type dominates. Families come in their plain published
    form; the mixed campaign combines the nuke models the shilling types lack (love/hate,
    reverse bandwagon, power items) with average; the ring demotes a popular item with no time
    signal, the design an external evaluation found our detectors missed.
    """
    return InjectionConfig(
        shilling=(
            ShillingAttack(PUSH, AVERAGE, attack_size=0.004),
            ShillingAttack(PUSH, BANDWAGON, attack_size=0.002),
            ShillingAttack(PUSH, SEGMENT, attack_size=0.002),
            ShillingAttack(NUKE, RANDOM, attack_size=0.004),
            ShillingAttack(NUKE, AVERAGE, attack_size=0.003),
        ),
        sharing=SharingConfig(size=0.007),
        bombing=BombingConfig(num_groups=1, group_size=8, series_size=2),
        bots=BotConfig(size=0.007),
        viewing=ViewingConfig(size=0.007),
        obfuscated=ObfuscatedConfig(attack_size=0.007),
        hijacked=HijackConfig(size=0.007, direction=NUKE),
        sampling=SamplingConfig(attack_size=0.007),
        love_hate=LoveHateConfig(attack_size=0.007),
        reverse_bandwagon=ReverseBandwagonConfig(attack_size=0.007),
        power_user=PowerUserConfig(attack_size=0.007),
        power_item=PowerItemConfig(attack_size=0.007),
        mixed=MixedConfig(
            direction=NUKE,
            models=(AVERAGE, LOVE_HATE, REVERSE_BANDWAGON, POWER_ITEM),
            attack_size=0.008,
        ),
        ring=RingConfig(size=0.008),
    )


FAMILY_FIELDS: dict[str, str] = {
    ACCOUNT_SHARING: "sharing",
    REVIEW_BOMBING: "bombing",
    BOT_CONSISTENCY: "bots",
    ABNORMAL_VIEWING: "viewing",
    OBFUSCATED_SHILLING: "obfuscated",
    HIJACKED: "hijacked",
    SAMPLING: "sampling",
    LOVE_HATE: "love_hate",
    REVERSE_BANDWAGON: "reverse_bandwagon",
    POWER_USER: "power_user",
    POWER_ITEM: "power_item",
    MIXED_SHILLING: "mixed",
    COORDINATED_RING: "ring",
}
"""The :class:`InjectionConfig` field of each anomaly type but the shilling ones..."""
SHILLING_DIRECTIONS: dict[str, str] = {SHILLING_PUSH: PUSH, SHILLING_NUKE: NUKE}
"""...which are the ``shilling`` entries of one direction."""


def without_types(config: InjectionConfig, types: Collection[str]) -> InjectionConfig:
    """``config`` with the families that produce ``types`` switched off.

    Raises:
        ValueError: a name that is not an anomaly type.
    """
    unknown = set(types) - set(ANOMALY_TYPES)
    if unknown:
        raise ValueError(f"unknown anomaly types {sorted(unknown)}; expected {ANOMALY_TYPES}")
    off = {FAMILY_FIELDS[t]: None for t in types if t in FAMILY_FIELDS}
    dropped = {SHILLING_DIRECTIONS[t] for t in types if t in SHILLING_DIRECTIONS}
    shilling = tuple(a for a in config.shilling if a.direction not in dropped)
    return replace(config, shilling=shilling, **off)
