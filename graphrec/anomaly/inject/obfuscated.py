"""Obfuscated AoP shilling, the step-2 type (Hurley et al. 2009; Williams et al. 2007): average
over popular fillers with noise, a per-user shift and a shifted target (see
:func:`~graphrec.anomaly.attack_models.build_obfuscated_profile`)."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import (
    build_obfuscated_profile,
)
from graphrec.anomaly.inject.options import (
    ObfuscatedConfig,
)
from graphrec.anomaly.inject.shilling import add_fake_profile, filler_counts
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    AOP,
    OBFUSCATED_SHILLING,
)


def inject_obfuscated(state: State, cfg: ObfuscatedConfig, rng: np.random.Generator) -> None:
    """An AoP campaign with noise, a per-user shift and a shifted target on every profile."""
    n = state.count(cfg.attack_size)
    if n == 0:
        return
    targets = state.choose_targets(rng, cfg.num_targets, cfg.targets)
    state.add_targets(targets, OBFUSCATED_SHILLING, AOP, cfg.direction)
    for num_filler in filler_counts(state, rng, n, cfg.filler_size, len(targets)):
        name = state.new_account(OBFUSCATED_SHILLING, AOP, rng)
        profile = build_obfuscated_profile(
            state.stats,
            rng,
            direction=cfg.direction,
            targets=targets,
            num_filler=int(num_filler),
            top_share=cfg.top_share,
            noise_sd=cfg.noise_sd,
            user_shift_sd=cfg.user_shift_sd,
            target_shift=cfg.target_shift,
        )
        add_fake_profile(state, rng, name, profile, OBFUSCATED_SHILLING, AOP)
