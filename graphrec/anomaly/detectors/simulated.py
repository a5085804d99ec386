"""Simulated attacks as training anomalies: the literature's families, planted in the data scanned.

Why: with a fifth of the accounts labeled, the semi-supervised detector's forest sees one or two
labeled examples of each anomaly type (about 22 labeled anomalies over 15 types on ML-100K) — too
few to carve a type's region, so it learns a vague "unusual" and flags eclectic genuine users.
The classic supervised shilling detectors were trained on generated attack profiles for the
same reason (Williams, Mobasher & Burke, "Defending recommender systems: detection of profile
injection attacks", SOCA 2007); :mod:`graphrec.anomaly.inject` holds those generators with their
published parameters. Planting them into the ratings being scanned — not into another graph —
keeps the genuine accounts, the item popularity and the encoder the same as the real accounts
see.

The simulated accounts are training rows only: they are never scored or reported, and the
accounts of the data keep the inputs computed without them.

Honest use on the project's own benchmark: there the evaluation's anomalies come from the same
generators, so a simulated family is an optimistic stand-in for a real one; leave-one-type-out
therefore excludes the held-out family from the simulation (``exclude``) as well as from the
labels.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import pandas as pd

from graphrec.anomaly.inject import FULL_TYPES, full_config, inject, without_types
from graphrec.anomaly.labels import NORMAL
from graphrec.data.ratings import Ratings

SEED_OFFSET = 7919
"""Added to the detector's seed: a simulation never replays the streams of an injection that
produced the data (benchmarks inject with small seeds)."""
FAMILIES_PER_PLANTING = 8
"""About 8 families × 0.7 % of the accounts each: a planted graph holds ~5 % simulated accounts
on top of the data's own anomalies."""


def simulated_anomalies(
    ratings: Ratings,
    inputs_of: Callable[[Ratings], pd.DataFrame],
    *,
    exclude: Collection[str] = (),
    copies: int = 1,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Plant every family of :func:`~graphrec.anomaly.inject.full_config` but ``exclude``,
    ``copies`` times, into ``ratings`` and return the planted accounts' inputs and types.

    Each copy shuffles the families into plantings of at most :data:`FAMILIES_PER_PLANTING`,
    each into the original ratings, so that no planted graph holds many more anomalies than
    real data does (relational inputs — co-rater suspicion, item excess — depend on how many
    fakes share the graph).

    Args:
        ratings: the data being scanned (with or without timestamps); not modified.
        inputs_of: the detector's input builder (same options as for the real accounts).
        exclude: anomaly types not to simulate.
        copies: how many times each family is planted (each from its own random draws).
        seed: the simulation seed (:data:`SEED_OFFSET` is added).

    Returns:
        (inputs [n, F] of the planted anomalous accounts, their types [n]).
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    families = [t for t in FULL_TYPES if t not in set(exclude)]
    rng = np.random.default_rng(seed + SEED_OFFSET)
    plantings = [
        chunk
        for _ in range(copies)
        for order in [rng.permutation(families)]
        for chunk in np.array_split(order, -(-len(order) // FAMILIES_PER_PLANTING))
        if len(chunk)
    ]
    frames, kinds = [], []
    for run, chunk in enumerate(plantings):
        config = without_types(full_config(), set(FULL_TYPES) - set(chunk))
        planted = inject(ratings, config, seed=seed + SEED_OFFSET + run)
        types = planted.accounts["type"].astype(str).to_numpy()
        anomalous = types != NORMAL
        frames.append(inputs_of(planted.ratings).loc[anomalous])
        kinds.append(types[anomalous])
    if not frames:
        return inputs_of(ratings).iloc[:0], np.array([], dtype=str)
    return pd.concat(frames, ignore_index=True), np.concatenate(kinds)
