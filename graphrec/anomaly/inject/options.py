"""Per-type options of the two-step task's anomaly types, and the obfuscations any shilling
campaign may apply.

Each dataclass is validated on construction: a bad value raises a ``ValueError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphrec.anomaly.labels import AVERAGE, DIRECTIONS, PUSH, SHILLING_MODELS

HOUR = 3600


def check_share(name: str, value: float, upper: float = 1.0) -> None:
    if not 0.0 <= value <= upper:
        raise ValueError(f"{name} must be in [0, {upper}], got {value}")


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def check_range(name: str, pair: tuple[int, int], low: int = 1) -> None:
    if len(pair) != 2 or pair[0] < low or pair[1] < pair[0]:
        raise ValueError(f"{name} must be (lo, hi) with {low} <= lo <= hi, got {pair}")


def check_window(window_seconds: int | None) -> None:
    if window_seconds is not None and window_seconds < 1:
        raise ValueError(f"window_seconds must be >= 1 or None, got {window_seconds}")


@dataclass(frozen=True)
class Obfuscation:
    """How a shilling campaign hides its signature (Williams, Mobasher & Burke 2007).

    Detectors trained on the plain models key on extreme, noiseless votes, on fillers sitting on
    item means and on fillers spread over the whole catalogue; Williams et al. show that each of
    these obfuscations costs such detectors much of their recall. Any combination may be applied
    to any shilling family (the fifth technique, a mixed attack, is its own family:
    :class:`~graphrec.anomaly.inject.MixedConfig`).

    Attributes:
        noise_sd: noise injection — every non-target vote gets N(0, noise_sd) added before it is
            rounded to the rating scale (0 = off).
        user_shift_sd: user shifting — one N(0, user_shift_sd) constant per profile added to all
            its non-target votes before rounding (0 = off).
        target_shift: target shifting — the target is rated this far inside the scale (1: max − 1
            for push, min + 1 for nuke; 0 = off).
        aop_share: average over popular (AoP x %, Hurley et al. 2009) — fillers drawn uniformly
            from the ``aop_share`` most popular rated items (widened to the profile's length if
            needed) and rated at their item mean, i.e. a real rating of the item (None = off).
            Models whose filler rating is their signature (segment, love/hate) keep it.
    """

    noise_sd: float = 0.0
    user_shift_sd: float = 0.0
    target_shift: float = 0.0
    aop_share: float | None = None

    def __post_init__(self) -> None:
        for name in ("noise_sd", "user_shift_sd", "target_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.aop_share is not None and not 0.0 < self.aop_share <= 1.0:
            raise ValueError(f"aop_share must be in (0, 1] or None, got {self.aop_share}")


@dataclass(frozen=True)
class ShillingAttack:
    """One push or nuke attack of a classic model.

    Attributes:
        direction: ``push`` (target rated max) or ``nuke`` (min).
        model: ``random``, ``average``, ``bandwagon`` or ``segment``.
        attack_size: fake profiles ÷ genuine users (1–15 % in the literature).
        filler_size: mean |I_F| ÷ |I| per profile; None draws whole profile lengths from the
            genuine distribution (the plausible default). With a value, per-profile filler counts
            follow the genuine length distribution rescaled to mean ``filler_size × |I|``.
        num_targets: attacked items (every fake rates all of them).
        targets: raw ids of the attacked items; empty picks mid/low-popularity items.
        num_selected: |I_S| for bandwagon and segment.
        obfuscation: noise, user shift, target shift and AoP (None: the plain model).
        window_seconds: every fake rates the targets inside one window this long, the lockstep a
            coordinated group shows (CopyCatch, Beutel et al. 2013); None: at its own times.
    """

    direction: str = PUSH
    model: str = AVERAGE
    attack_size: float = 0.02
    filler_size: float | None = None
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    num_selected: int = 3
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        check_direction(self.direction)
        if self.model not in SHILLING_MODELS:
            raise ValueError(f"model must be one of {SHILLING_MODELS}, got {self.model!r}")
        check_share("attack_size", self.attack_size)
        if self.filler_size is not None:
            check_share("filler_size", self.filler_size)
        if self.num_targets < 1 and not self.targets:
            raise ValueError(f"num_targets must be >= 1, got {self.num_targets}")
        if self.num_selected < 0:
            raise ValueError(f"num_selected must be >= 0, got {self.num_selected}")
        check_window(self.window_seconds)


@dataclass(frozen=True)
class SharingConfig:
    """Account sharing. ``size``: shared accounts ÷ genuine users; people per account in range."""

    size: float = 0.01
    people: tuple[int, int] = (2, 3)

    def __post_init__(self) -> None:
        check_share("size", self.size, upper=0.5)
        check_range("people", self.people, low=2)


@dataclass(frozen=True)
class BombingConfig:
    """Review bombing by groups of accounts.

    Attributes:
        num_groups: independent bombing events (each its own target or series).
        group_size: accounts per group.
        series_size: items bombed per group (1 = one title; more = a franchise or genre series).
        window_seconds: all of a group's bombing ratings fall inside a window this long.
        hijacked_share: share of each group made of existing real users (the rest are new
            accounts with cover activity).
    """

    num_groups: int = 1
    group_size: int = 15
    series_size: int = 1
    window_seconds: int = 6 * HOUR
    hijacked_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("num_groups", "group_size", "series_size", "window_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_share("hijacked_share", self.hijacked_share)


@dataclass(frozen=True)
class BotConfig:
    """Bot-like consistency: ``size`` bots ÷ genuine users, a share with a repeating pattern."""

    size: float = 0.01
    pattern_share: float = 0.5
    min_items: int = 20
    pattern_length: tuple[int, int] = (2, 4)

    def __post_init__(self) -> None:
        check_share("size", self.size)
        check_share("pattern_share", self.pattern_share)
        check_range("pattern_length", self.pattern_length, low=2)
        if self.min_items < 1:
            raise ValueError(f"min_items must be >= 1, got {self.min_items}")


@dataclass(frozen=True)
class ViewingConfig:
    """Abnormal viewing: real users given bursts and repeated events.

    Attributes:
        size: affected users ÷ genuine users.
        bursts: number of bursts per user (inclusive range).
        burst_events: events per burst (inclusive range).
        burst_seconds: a burst's events all fall inside this many seconds.
        repeated_items: items watched again and again per user (inclusive range).
        repeats: extra events per repeated item (inclusive range).
    """

    size: float = 0.01
    bursts: tuple[int, int] = (1, 3)
    burst_events: tuple[int, int] = (15, 40)
    burst_seconds: int = 600
    repeated_items: tuple[int, int] = (1, 3)
    repeats: tuple[int, int] = (2, 5)

    def __post_init__(self) -> None:
        check_share("size", self.size, upper=0.5)
        check_range("bursts", self.bursts)
        check_range("burst_events", self.burst_events)
        check_range("repeated_items", self.repeated_items, low=0)
        check_range("repeats", self.repeats)
        if self.burst_seconds < 1:
            raise ValueError(f"burst_seconds must be >= 1, got {self.burst_seconds}")


@dataclass(frozen=True)
class ObfuscatedConfig:
    """Obfuscated AoP shilling (step 2): see ``build_obfuscated_profile`` for the parameters."""

    direction: str = PUSH
    attack_size: float = 0.01
    filler_size: float | None = None
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    top_share: float = 0.2
    noise_sd: float = 0.3
    user_shift_sd: float = 0.3
    target_shift: float = 1.0

    def __post_init__(self) -> None:
        check_direction(self.direction)
        check_share("attack_size", self.attack_size)
        check_share("top_share", self.top_share)
        if self.filler_size is not None:
            check_share("filler_size", self.filler_size)
        if self.noise_sd < 0 or self.user_shift_sd < 0:
            raise ValueError(f"noise sds must be >= 0, got {self.noise_sd}, {self.user_shift_sd}")


@dataclass(frozen=True)
class HijackConfig:
    """Hijacked real accounts (step 2): the last ``takeover_share`` of their events (by time) are
    replaced by a push/nuke campaign at the same times.

    Attributes:
        size: hijacked accounts ÷ genuine users.
        takeover_share: share of each account's events the attacker produced (~30 %).
        min_events: only accounts with at least this many events are taken over.
    """

    size: float = 0.01
    direction: str = PUSH
    takeover_share: float = 0.3
    min_events: int = 20
    num_targets: int = 1
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_share("size", self.size, upper=0.5)
        check_direction(self.direction)
        if not 0.0 < self.takeover_share < 1.0:
            raise ValueError(f"takeover_share must be in (0, 1), got {self.takeover_share}")


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling attack (step 2's third new type): fakes copy real profiles, then rate the target.

    Why this one: it is the attack the step-1 types cannot teach. Its profiles are real profiles
    (Burke et al. 2005's sampling / power-user attacks), so length, rating distribution, entropy,
    deviation from item means (RDMA, WDMA, FMV) and item popularity are genuine by construction;
    only relational evidence exposes it — each fake is a near-duplicate of some real account
    (DegSim), and many accounts agree on the same target. That tests exactly the brief's demand
    that step-2 detectors generalize to unseen types instead of memorizing feature shapes. (A
    love/hate attack, the other candidate, is a constant-max profile plus one min: a bot and a
    nuke already seen in step 1 would catch it.)

    Attributes:
        attack_size: fakes ÷ genuine users.
        keep_share: share of the copied profile's events kept (the rest dropped, so copies are
            near- not exact duplicates).
    """

    attack_size: float = 0.01
    direction: str = PUSH
    keep_share: float = 0.8
    num_targets: int = 1
    targets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_share("attack_size", self.attack_size)
        check_direction(self.direction)
        if not 0.0 < self.keep_share <= 1.0:
            raise ValueError(f"keep_share must be in (0, 1], got {self.keep_share}")
