"""Classic shilling attacks, and the campaign machinery every shilling family shares.

A campaign (Lam & Riedl 2004; Mobasher et al. 2007) is ``attack_size × genuine users`` fake
profiles that all rate the same targets. What keeps the fakes from giving themselves away by
accident is shared here: filler counts follow the genuine length distribution, timestamps a real
user's rhythm, and the target sits anywhere in the history. Optional on every family: the
obfuscations of Williams et al. (2007) and a lockstep window in which all target ratings fall
(the time signature of a coordinated group, CopyCatch, Beutel et al. 2013).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from graphrec.anomaly.attack_models import (
    Profile,
    RatingStats,
    build_shilling_profile,
    sample_lengths,
    sample_times,
)
from graphrec.anomaly.inject.obfuscation import aop_pool, obfuscate
from graphrec.anomaly.inject.options import Obfuscation, ShillingAttack
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import BANDWAGON, PUSH, SEGMENT, SHILLING_NUKE, SHILLING_PUSH, TARGET

log = logging.getLogger(__name__)

# (rng, model, targets, num_filler, like, filler_pool) -> one profile.
BuildProfile = Callable[
    [np.random.Generator, str, np.ndarray, int, np.ndarray, np.ndarray | None], Profile
]


class Campaign(Protocol):
    """The fields every shilling-family config shares."""

    attack_size: float
    filler_size: float | None
    num_targets: int
    targets: tuple[str, ...]
    obfuscation: Obfuscation | None
    window_seconds: int | None


def filler_counts(
    state: State, rng: np.random.Generator, n: int, filler_size: float | None, fixed: int
) -> np.ndarray:
    """Per-profile filler counts: genuine lengths minus the fixed part, or rescaled to |I_F|."""
    cap = int((state.stats.item_count > 0).sum()) - fixed
    if filler_size is None:
        counts = sample_lengths(state.stats, rng, n) - fixed
    else:
        counts = sample_lengths(state.stats, rng, n, mean=filler_size * state.ratings.num_items)
    return np.clip(counts, 1, max(cap, 1))


def campaign_window(
    stats: RatingStats, rng: np.random.Generator, window_seconds: int | None
) -> tuple[int, int] | None:
    """One random window of the real span for a lockstep campaign (None: no window)."""
    if window_seconds is None:
        return None
    w0 = int(rng.integers(stats.t_min, max(stats.t_min, stats.t_max - window_seconds) + 1))
    return w0, min(w0 + window_seconds, stats.t_max)


def lockstep_times(
    stats: RatingStats,
    rng: np.random.Generator,
    times: np.ndarray,
    is_target: np.ndarray,
    window: tuple[int, int],
) -> np.ndarray:
    """Move a profile's sorted ``times`` so its activity surrounds the window, then put its
    target events inside the window (the rest keep the real rhythm)."""
    w0, w1 = window
    anchor = int(rng.integers(w0, w1 + 1))
    fits = np.flatnonzero(
        (times - times[0] <= anchor - stats.t_min) & (times[-1] - times <= stats.t_max - anchor)
    )
    times = times - times[int(rng.choice(fits))] + anchor if len(fits) else times.copy()
    times[is_target] = np.sort(rng.integers(w0, w1 + 1, size=int(is_target.sum())))
    return times


def add_fake_profile(
    state: State,
    rng: np.random.Generator,
    name: str,
    profile: Profile,
    kind: str,
    model: str,
    window: tuple[int, int] | None = None,
) -> None:
    """Add a fake's profile with a real user's rhythm, the target anywhere in its history."""
    times = sample_times(state.stats, rng, len(profile))
    order = rng.permutation(len(profile))
    roles = profile.roles[order]
    if window is not None:
        times = lockstep_times(state.stats, rng, times, roles == TARGET, window)
    state.add(name, profile.items[order], profile.ratings[order], times, kind, model, roles)


def run_campaign(
    state: State,
    rng: np.random.Generator,
    cfg: Campaign,
    *,
    kind: str,
    direction: str,
    models: tuple[str, ...],
    build: BuildProfile,
    fixed: int = 0,
) -> None:
    """Targets, then one profile per fake from ``build``, obfuscated and placed in time.

    Args:
        kind: the anomaly type of the campaign's accounts.
        models: the model of every profile, or several dealt out evenly (a mixed attack).
        build: makes one profile from (rng, model, targets, num_filler, like, filler_pool).
        fixed: items per profile besides fillers and targets (|I_S|).
    """
    n = state.count(cfg.attack_size)
    if n == 0:
        log.warning("attack size %s gives no fake profile", cfg.attack_size)
        return
    stats = state.stats
    targets = state.choose_targets(rng, cfg.num_targets, cfg.targets)
    state.add_targets(targets, kind, "+".join(models), direction)
    counts = filler_counts(state, rng, n, cfg.filler_size, len(targets) + fixed)
    dealt = [models[0]] * n
    if len(models) > 1:  # every model as often as the others (±1), in random order
        dealt = [str(m) for m in rng.permutation(np.resize(rng.permutation(models), n))]
    window = campaign_window(stats, rng, cfg.window_seconds)
    obf = cfg.obfuscation
    for model, num_filler in zip(dealt, counts, strict=True):
        name = state.new_account(kind, model, rng)
        like = stats.items_of(stats.template_user(rng, int(num_filler)))
        pool = None
        if obf is not None and obf.aop_share is not None:
            pool = aop_pool(stats, obf.aop_share, int(num_filler) + fixed + len(targets))
        profile = build(rng, model, targets, int(num_filler), like, pool)
        if obf is not None:
            profile = obfuscate(profile, stats, rng, obf, direction)
        add_fake_profile(state, rng, name, profile, kind, model, window)


def inject_shilling(state: State, attack: ShillingAttack, rng: np.random.Generator) -> None:
    """A classic push/nuke attack of the random, average, bandwagon or segment model."""
    selected = attack.num_selected if attack.model in (BANDWAGON, SEGMENT) else 0

    def build(
        rng: np.random.Generator,
        model: str,
        targets: np.ndarray,
        num_filler: int,
        like: np.ndarray,
        pool: np.ndarray | None,
    ) -> Profile:
        return build_shilling_profile(
            state.stats,
            rng,
            model=model,
            direction=attack.direction,
            targets=targets,
            num_filler=num_filler,
            num_selected=selected,
            by_popularity=state.config.filler_by_popularity,
            like=like,
            filler_pool=pool,
        )

    kind = SHILLING_PUSH if attack.direction == PUSH else SHILLING_NUKE
    run_campaign(
        state,
        rng,
        attack,
        kind=kind,
        direction=attack.direction,
        models=(attack.model,),
        build=build,
        fixed=selected,
    )
