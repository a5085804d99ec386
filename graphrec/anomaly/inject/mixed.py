"""Mixed attack (Williams, Mobasher & Burke 2007): one campaign whose profiles come from several
attack models, so that a detector keyed on one model's signature sees only part of it."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import Profile, build_shilling_profile
from graphrec.anomaly.inject.family_options import MixedConfig, PowerItemConfig
from graphrec.anomaly.inject.love_hate import build_love_hate_profile
from graphrec.anomaly.inject.power import build_power_item_profile, power_items
from graphrec.anomaly.inject.shilling import run_campaign
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    BANDWAGON,
    LOVE_HATE,
    MIXED_SHILLING,
    NUKE,
    POWER_ITEM,
    REVERSE_BANDWAGON,
    SEGMENT,
)


def inject_mixed(state: State, cfg: MixedConfig, rng: np.random.Generator) -> None:
    """One mixed campaign. Without a filler size, models with no selected items take |I_S| more
    fillers instead, so every profile keeps a genuine length; with one, every model has that
    many fillers. Power items use :class:`PowerItemConfig`'s defaults.
    """
    stats = state.stats
    extra = cfg.num_selected if cfg.filler_size is None else 0
    by_popularity = state.config.filler_by_popularity
    power = PowerItemConfig()
    ranked = np.zeros(0, dtype=np.int64)
    if POWER_ITEM in cfg.models:
        ranked = power_items(state.ratings, power.selection, power.num_neighbors)

    def build(
        rng: np.random.Generator,
        model: str,
        targets: np.ndarray,
        num_filler: int,
        like: np.ndarray,
        pool: np.ndarray | None,
    ) -> Profile:
        if model == LOVE_HATE:
            return build_love_hate_profile(
                stats,
                rng,
                targets=targets,
                num_filler=num_filler + extra,
                by_popularity=by_popularity,
                like=like,
                filler_pool=pool,
            )
        if model == POWER_ITEM:
            return build_power_item_profile(
                stats,
                rng,
                ranked=ranked,
                pool_share=power.pool_share,
                direction=cfg.direction,
                targets=targets,
                num_items=num_filler + extra,
            )
        selects = model in (BANDWAGON, SEGMENT, REVERSE_BANDWAGON)
        return build_shilling_profile(
            stats,
            rng,
            model=BANDWAGON if model == REVERSE_BANDWAGON else model,
            direction=NUKE if model == REVERSE_BANDWAGON else cfg.direction,
            targets=targets,
            num_filler=num_filler + (0 if selects else extra),
            num_selected=cfg.num_selected if selects else 0,
            by_popularity=by_popularity,
            like=like,
            filler_pool=pool,
        )

    run_campaign(
        state,
        rng,
        cfg,
        kind=MIXED_SHILLING,
        direction=cfg.direction,
        models=cfg.models,
        build=build,
        fixed=cfg.num_selected,
    )
