"""Reverse bandwagon attack (Mobasher et al. 2007): widely disliked items rated min alongside
the target, fillers from the global rating distribution."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import Profile, build_shilling_profile
from graphrec.anomaly.inject.family_options import ReverseBandwagonConfig
from graphrec.anomaly.inject.shilling import run_campaign
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import BANDWAGON, NUKE, REVERSE_BANDWAGON


def inject_reverse_bandwagon(
    state: State, cfg: ReverseBandwagonConfig, rng: np.random.Generator
) -> None:
    """A reverse bandwagon nuke campaign: the bandwagon builder's nuke form, which selects the
    lowest-mean items among those with at least the median number of ratings."""

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
            model=BANDWAGON,
            direction=NUKE,
            targets=targets,
            num_filler=num_filler,
            num_selected=cfg.num_selected,
            by_popularity=state.config.filler_by_popularity,
            like=like,
            filler_pool=pool,
        )

    run_campaign(
        state,
        rng,
        cfg,
        kind=REVERSE_BANDWAGON,
        direction=NUKE,
        models=(REVERSE_BANDWAGON,),
        build=build,
        fixed=cfg.num_selected,
    )
