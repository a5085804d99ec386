"""Options of the attack families the shilling literature evaluates on, beyond the two-step task.

Every family is sized like the classic attacks — attack size = fakes ÷ genuine users — and every
shilling family takes the same :class:`~graphrec.anomaly.inject.options.Obfuscation` and lockstep
``window_seconds`` options, so a benchmark can hold out any design and any disguise.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphrec.anomaly.inject.options import (
    Obfuscation,
    check_direction,
    check_share,
    check_window,
)
from graphrec.anomaly.labels import (
    AVERAGE,
    BANDWAGON,
    MIXED_MODELS,
    NUKE,
    NUKE_ONLY_MODELS,
    PUSH,
    RANDOM,
    SEGMENT,
)

# How power users and power items are chosen (Seminario & Wilson 2014).
IN_DEGREE = "in_degree"  # times an entity is among the others' top-k most similar (kNN in-degree)
NUM_RATINGS = "num_ratings"  # number of ratings
POWER_SELECTIONS: tuple[str, ...] = (IN_DEGREE, NUM_RATINGS)


def _check_campaign(
    attack_size: float,
    filler_size: float | None,
    num_targets: int,
    targets: tuple[str, ...],
    window_seconds: int | None,
) -> None:
    """The fields every shilling-family config shares."""
    check_share("attack_size", attack_size)
    if filler_size is not None:
        check_share("filler_size", filler_size)
    if num_targets < 1 and not targets:
        raise ValueError(f"num_targets must be >= 1, got {num_targets}")
    check_window(window_seconds)


def _check_power(
    family: str, selection: str, num_neighbors: int, obfuscation: Obfuscation | None
) -> None:
    if selection not in POWER_SELECTIONS:
        raise ValueError(f"selection must be one of {POWER_SELECTIONS}, got {selection!r}")
    if num_neighbors < 1:
        raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
    if obfuscation is not None and obfuscation.aop_share is not None:
        raise ValueError(f"aop_share does not apply to {family}: its profiles have no fillers")


@dataclass(frozen=True)
class LoveHateConfig:
    """Love/hate attack (Mobasher et al. 2007): fillers rated max, the target min.

    A nuke attack only (its push mirror is ineffective, Mobasher et al.): the fakes love
    everything but the target, which cheaply lowers the target's prediction for the neighbours
    they acquire. Filler items and counts come from the genuine data, as for the classic models.

    Attributes:
        attack_size: fakes ÷ genuine users (Mobasher et al.: 1–15 %).
        filler_size: mean |I_F| ÷ |I| (1–10 % in the literature); None: genuine profile
            lengths.
        num_targets / targets: attacked items (raw ids; empty picks mid/low-popularity items).
        obfuscation: noise, user shift, target shift (min + 1), AoP.
        window_seconds: lockstep window of the target ratings (None: spread like genuine use).
    """

    attack_size: float = 0.01
    filler_size: float | None = None
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        _check_campaign(
            self.attack_size, self.filler_size, self.num_targets, self.targets, self.window_seconds
        )


@dataclass(frozen=True)
class ReverseBandwagonConfig:
    """Reverse bandwagon attack (Mobasher et al. 2007): widely disliked items rated min with the
    target; fillers around the global mean.

    "Unpopular" in the paper's sense: items "rated poorly by many users" — the lowest mean rating
    among items with at least the median number of ratings — so that the fakes share low votes
    with many genuine users and become their neighbours. Fillers are real ratings of the whole
    data (the global distribution: N(global mean, global sd) without its rounding bias).

    Attributes:
        attack_size: fakes ÷ genuine users.
        filler_size: mean |I_F| ÷ |I|; None: genuine profile lengths.
        num_selected: |I_S|, the disliked items each fake rates min (drawn from the 3 × |I_S|
            most disliked).
        num_targets / targets, obfuscation, window_seconds: as for :class:`LoveHateConfig`.
    """

    attack_size: float = 0.01
    filler_size: float | None = None
    num_selected: int = 3
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        _check_campaign(
            self.attack_size, self.filler_size, self.num_targets, self.targets, self.window_seconds
        )
        if self.num_selected < 1:
            raise ValueError(f"num_selected must be >= 1, got {self.num_selected}")


@dataclass(frozen=True)
class PowerUserConfig:
    """Power-user attack (Wilson & Seminario 2013; Seminario & Wilson 2014).

    The fakes are near-duplicates of influential genuine users — each copies ``keep_share`` of
    one distinct power user's ratings — and rate the target max (push) or min (nuke); they
    inherit the power users' neighbourhoods. Seminario & Wilson select power users by in-degree
    centrality in the user–user similarity graph, by aggregate similarity or by number of
    ratings, and find degree centrality the most effective; we offer in-degree (``in_degree``:
    how many users have this user among their ``num_neighbors`` most similar, Pearson-like cosine
    of mean-centred ratings) and ``num_ratings``.

    The paper's top-N power users are the heaviest raters (on ML-100K the top 7 by in-degree have
    184–518 ratings against a mean of 106): length alone would expose their copies. By default
    (``match_lengths``) each fake therefore draws a genuine length and copies the most
    influential unused user among the 2 % (at least 5) closest to the matching source length —
    near-duplicates of power users of every length.

    Attributes:
        direction: ``push`` or ``nuke``.
        attack_size: fakes ÷ genuine users (one distinct power user each).
        selection: ``in_degree`` or ``num_ratings``.
        num_neighbors: k of the kNN graph for ``in_degree``.
        keep_share: share of the power user's events each fake copies (near-duplicates).
        match_lengths: power users per genuine length stratum (False: the overall top-N).
        num_targets / targets, window_seconds: as for :class:`LoveHateConfig`.
        obfuscation: noise, user shift and target shift (AoP does not apply: no fillers).
    """

    direction: str = PUSH
    attack_size: float = 0.01
    selection: str = IN_DEGREE
    num_neighbors: int = 50
    keep_share: float = 0.9
    match_lengths: bool = True
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        check_direction(self.direction)
        _check_campaign(self.attack_size, None, self.num_targets, self.targets, self.window_seconds)
        _check_power("power_user", self.selection, self.num_neighbors, self.obfuscation)
        if not 0.0 < self.keep_share <= 1.0:
            raise ValueError(f"keep_share must be in (0, 1], got {self.keep_share}")


@dataclass(frozen=True)
class PowerItemConfig:
    """Power-item attack (Seminario & Wilson 2014; nuke variant 2016).

    Each fake rates only "power items" — the items exerting the most influence in item-based
    prediction, chosen by number of ratings (``num_ratings``, the default) or by in-degree in the
    item–item kNN graph (``in_degree``, adjusted cosine, Sarwar et al. 2001) — as genuine users
    rate them (a real rating of each item), plus the target at max (push) or min (nuke).
    Seminario & Wilson (2016) study attacks by fewer than 5 % of users. Profile lengths follow the
    genuine distribution; each profile draws its items uniformly from the ``pool_share`` most
    influential items (widened to its length where needed).

    Attributes:
        direction: ``push`` or ``nuke``.
        attack_size: fakes ÷ genuine users.
        selection: ``num_ratings`` or ``in_degree``.
        num_neighbors: k of the kNN graph for ``in_degree``.
        pool_share: share of the rated items counted as power items.
        filler_size: mean number of power items per profile ÷ |I| (they play the fillers' part);
            None: genuine profile lengths.
        num_targets / targets, window_seconds: as for :class:`LoveHateConfig`.
        obfuscation: noise, user shift and target shift (AoP does not apply).
    """

    direction: str = PUSH
    attack_size: float = 0.01
    selection: str = NUM_RATINGS
    num_neighbors: int = 50
    pool_share: float = 0.1
    filler_size: float | None = None
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        check_direction(self.direction)
        _check_campaign(
            self.attack_size, self.filler_size, self.num_targets, self.targets, self.window_seconds
        )
        _check_power("power_item", self.selection, self.num_neighbors, self.obfuscation)
        if not 0.0 < self.pool_share <= 1.0:
            raise ValueError(f"pool_share must be in (0, 1], got {self.pool_share}")


@dataclass(frozen=True)
class MixedConfig:
    """Mixed attack (Williams, Mobasher & Burke 2007): one campaign — same targets, same
    direction — whose profiles are drawn from several attack models, so no single model's
    signature covers it. Models are dealt out evenly; each profile's ``model`` column names its own.

    Attributes:
        direction: ``push`` or ``nuke``.
        models: at least two of ``random``, ``average``, ``bandwagon``, ``segment``,
            ``power_item`` and, for nuke, ``love_hate`` and ``reverse_bandwagon``.
        attack_size: fakes ÷ genuine users (all models together).
        filler_size: mean |I_F| ÷ |I|; None: genuine profile lengths.
        num_selected: |I_S| of the models that have selected items.
        num_targets / targets, obfuscation, window_seconds: as for :class:`LoveHateConfig`.
    """

    direction: str = PUSH
    models: tuple[str, ...] = (RANDOM, AVERAGE, BANDWAGON, SEGMENT)
    attack_size: float = 0.01
    filler_size: float | None = None
    num_selected: int = 3
    num_targets: int = 1
    targets: tuple[str, ...] = ()
    obfuscation: Obfuscation | None = None
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        check_direction(self.direction)
        _check_campaign(
            self.attack_size, self.filler_size, self.num_targets, self.targets, self.window_seconds
        )
        if len(set(self.models)) < 2:
            raise ValueError(f"models must name at least two models, got {self.models}")
        unknown = [m for m in self.models if m not in MIXED_MODELS]
        if unknown:
            raise ValueError(f"models must be among {MIXED_MODELS}, got {unknown}")
        nuke_only = [m for m in self.models if m in NUKE_ONLY_MODELS]
        if nuke_only and self.direction != NUKE:
            raise ValueError(f"models {nuke_only} are nuke attacks, got direction {PUSH!r}")
        if self.num_selected < 0:
            raise ValueError(f"num_selected must be >= 0, got {self.num_selected}")


@dataclass(frozen=True)
class RingConfig:
    """Coordinated ring: accounts that each look like a real user and together move one item.

    Every member copies part of a *different* genuine profile — its taste, ratings included,
    on fresh real timestamps — so each member alone is a plausible user (length, rating
    distribution, item popularity, deviation from item means all genuine); all members of a
    ring rate one shared target at the min (nuke, by default a popular item: demoting a hit) or
    the max (push). Only the group is anomalous: many accounts, each a partial copy of someone,
    agreeing on one item. An external evaluation found our detectors missed exactly this design.
    Member lengths follow the genuine distribution; each copies from the unused user whose length
    best matches its share.

    Attributes:
        size: ring members ÷ genuine users (all rings together).
        num_groups: rings, each with its own target.
        direction: ``nuke`` (default) or ``push``.
        copy_share: (lo, hi) share of its source's events a member copies.
        target_popularity: popularity quantile band (among rated items) of the targets.
        targets: raw ids, one per ring (empty: drawn from ``target_popularity``).
        window_seconds: lockstep window of each ring's target ratings (None: no time signal).
    """

    size: float = 0.01
    num_groups: int = 1
    direction: str = NUKE
    copy_share: tuple[float, float] = (0.5, 0.8)
    target_popularity: tuple[float, float] = (0.9, 0.99)
    targets: tuple[str, ...] = ()
    window_seconds: int | None = None

    def __post_init__(self) -> None:
        check_share("size", self.size, upper=0.5)
        check_direction(self.direction)
        if self.num_groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {self.num_groups}")
        lo, hi = self.copy_share
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"copy_share must be 0 < lo <= hi <= 1, got {self.copy_share}")
        lo, hi = self.target_popularity
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"target_popularity must be 0 <= lo < hi <= 1, got {(lo, hi)}")
        if self.targets and len(self.targets) != self.num_groups:
            raise ValueError(
                f"targets must give one item per ring ({self.num_groups}), got {self.targets}"
            )
        check_window(self.window_seconds)
