"""Attacks whose fake profiles are copies of real ones: the sampling attack (step 2) and the
shared helper the power-user attack and the coordinated ring build on.

A copied profile is genuine in every per-account statistic (length, rating distribution,
entropy, deviation from item means, item popularity); only relational evidence — a near-duplicate
of some real account, many accounts agreeing on one target — exposes it.
"""

from __future__ import annotations

import numpy as np

from graphrec.anomaly.attack_models import Profile, extreme, fit_into_span, sample_times
from graphrec.anomaly.inject.obfuscation import obfuscate
from graphrec.anomaly.inject.options import Obfuscation, SamplingConfig
from graphrec.anomaly.inject.shilling import lockstep_times
from graphrec.anomaly.inject.state import State
from graphrec.anomaly.labels import COPIED, SAMPLING, TARGET


def add_copy(
    state: State,
    rng: np.random.Generator,
    name: str,
    rows: np.ndarray,
    targets: np.ndarray,
    *,
    direction: str,
    kind: str,
    model: str,
    window: tuple[int, int] | None = None,
    obfuscation: Obfuscation | None = None,
) -> None:
    """Give account ``name`` the genuine events ``rows`` (items and ratings, in their order) and
    the targets at the attack's extreme rating.

    The copy gets fresh timestamps with another real user's rhythm — the taste is copied, the
    clicks are not — and each target lands one real within-session gap after one of the copied
    events (or inside ``window``).
    """
    stats = state.stats
    ev = state.ratings.events
    profile = Profile(
        items=np.concatenate([ev["item"].to_numpy()[rows], targets]),
        ratings=np.concatenate(
            [
                ev["rating"].to_numpy(np.float64)[rows],
                np.full(len(targets), extreme(stats, direction)),
            ]
        ),
        roles=np.array([COPIED] * len(rows) + [TARGET] * len(targets), dtype=object),
    )
    if obfuscation is not None:
        profile = obfuscate(profile, stats, rng, obfuscation, direction)
    times = sample_times(stats, rng, len(rows))
    t_target = rng.choice(times, size=len(targets)) + rng.choice(stats.short_gaps, len(targets))
    times = np.concatenate([times, np.minimum(t_target, stats.t_max)])
    order = np.argsort(times, kind="stable")
    times, roles = times[order], profile.roles[order]
    if window is not None:
        times = lockstep_times(stats, rng, times, roles == TARGET, window)
    state.add(name, profile.items[order], profile.ratings[order], times, kind, model, roles)


def inject_sampling(state: State, cfg: SamplingConfig, rng: np.random.Generator) -> None:
    """Fakes copy ``keep_share`` of random real profiles (times shifted) and rate the target."""
    stats = state.stats
    n = state.count(cfg.attack_size)
    if n == 0:
        return
    targets = state.choose_targets(rng, cfg.num_targets, cfg.targets)
    state.add_targets(targets, SAMPLING, "sampling", cfg.direction)
    ev = state.ratings.events
    items_col, ratings_col = ev["item"].to_numpy(), ev["rating"].to_numpy(np.float64)
    times_col = ev["timestamp"].to_numpy(np.int64)
    lengths = np.diff(state.rows_ptr)
    sources = rng.choice(np.flatnonzero(lengths >= 5), size=n, replace=True)
    value = extreme(stats, cfg.direction)
    for source in sources:
        name = state.new_account(SAMPLING, "sampling", rng)
        rows = state.rows_order[state.rows_ptr[source] : state.rows_ptr[source + 1]]
        rows = rows[~np.isin(items_col[rows], targets)]  # time-sorted
        keep = max(1, int(round(cfg.keep_share * len(rows))))
        rows = rows[np.sort(rng.choice(len(rows), size=keep, replace=False))]
        times = fit_into_span(np.sort(times_col[rows]), stats, rng)
        state.add(name, items_col[rows], ratings_col[rows], times, SAMPLING, "sampling", COPIED)
        t_target = rng.choice(times, size=len(targets)) + rng.choice(stats.short_gaps, len(targets))
        state.add(
            name,
            targets,
            np.full(len(targets), value),
            np.minimum(t_target, stats.t_max),
            SAMPLING,
            "sampling",
            TARGET,
        )
