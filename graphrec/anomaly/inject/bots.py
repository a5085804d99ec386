"""Bot-like consistency: one rating value for everything, or a fixed repeating pattern, over
many items at a regular machine pace."""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import (
    fit_into_span,
    sample_items,
    sample_lengths,
)
from graphrec.anomaly.inject.options import (
    BotConfig,
)
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import (
    BOT_CONSISTENCY,
    PATTERN,
)


def inject_bots(state: State, cfg: BotConfig, rng: np.random.Generator) -> None:
    """Fake accounts rating genuine-looking items with one value or a repeating pattern."""
    stats = state.stats
    n = state.count(cfg.size)
    lengths = np.maximum(sample_lengths(stats, rng, n), cfg.min_items)
    for length in lengths:
        use_pattern = rng.random() < cfg.pattern_share and len(stats.scale) > 1
        model = "pattern" if use_pattern else "constant"
        name = state.new_account(BOT_CONSISTENCY, model, rng)
        items = sample_items(
            stats,
            rng,
            int(length),
            by_popularity=state.config.filler_by_popularity,
            like=stats.items_of(stats.template_user(rng, int(length))),
        )
        if use_pattern:
            p_len = int(rng.integers(cfg.pattern_length[0], cfg.pattern_length[1] + 1))
            pattern = rng.choice(stats.scale, size=p_len)
            while len(np.unique(pattern)) < 2:
                pattern = rng.choice(stats.scale, size=p_len)
            values = np.resize(pattern, len(items))
        else:
            values = np.full(len(items), rng.choice(stats.scale))
        # A bot keeps a regular machine pace: one event every `interval` seconds (sub-second
        # for some, so same-second events, common in real data, do not single bots out).
        interval = float(np.exp(rng.uniform(np.log(0.2), np.log(120))))
        times = fit_into_span(np.rint(np.arange(len(items)) * interval), stats, rng)
        state.add(name, items, values, times, BOT_CONSISTENCY, model, PATTERN)
