"""Obfuscation of shilling profiles (Williams, Mobasher & Burke 2007; AoP: Hurley et al. 2009)."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import Profile, RatingStats, extreme, round_to_scale
from graphrec.anomaly.inject.options import Obfuscation
from graphrec.anomaly.labels import TARGET


def aop_pool(stats: RatingStats, share: float, at_least: int) -> np.ndarray:
    """The ``share`` most popular rated items, widened to ``at_least`` so a long profile still
    finds its fillers there (a shorter profile would give the fake away by its length)."""
    cut = max(int(np.ceil(share * stats.num_rated)), at_least)
    return stats.items_by_rank[: min(cut, stats.num_rated)]


def obfuscate(
    profile: Profile,
    stats: RatingStats,
    rng: np.random.Generator,
    obfuscation: Obfuscation,
    direction: str,
) -> Profile:
    """Noise injection, user shifting and target shifting applied to one profile.

    Every non-target vote gets its own N(0, noise_sd) draw and the profile's one N(0,
    user_shift_sd) shift, then is rounded to the rating scale (clipped to its ends); the targets
    are rated ``target_shift`` inside the scale. AoP acts earlier, on the choice of fillers.
    """
    votes = profile.roles != TARGET
    ratings = profile.ratings.copy()
    shift = rng.normal(0.0, obfuscation.user_shift_sd) if obfuscation.user_shift_sd > 0 else 0.0
    noise = np.zeros(int(votes.sum()))
    if obfuscation.noise_sd > 0:
        noise = rng.normal(0.0, obfuscation.noise_sd, size=len(noise))
    if obfuscation.noise_sd > 0 or obfuscation.user_shift_sd > 0:
        ratings[votes] = round_to_scale(ratings[votes] + noise + shift, stats.scale)
    ratings[~votes] = extreme(stats, direction, shift=obfuscation.target_shift)
    return Profile(items=profile.items, ratings=ratings, roles=profile.roles)
