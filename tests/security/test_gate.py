"""The gated oracle: bit-identical undefended lists below the threshold, the defended model's above,
list-following accounts gated, benign replays not, and nothing of the gate visible to callers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.data.split import pad_sequences
from graphrec.models.batch import SequenceBatch
from graphrec.security.gate import GatedOracle, PermutedRecommender, StreamGate
from graphrec.security.oracle import Oracle
from graphrec.security.queries import autoregressive_queries

DRIFT_MAX_LEN = 10
"""Input length of the shared ``drift_target`` model (tests/conftest.py)."""


def permuted(model, split, seed: int = 0) -> PermutedRecommender:
    popularity = np.bincount(split.train["item"].to_numpy(), minlength=split.num_items)
    return PermutedRecommender(model, popularity, num_strata=4, seed=seed)


def test_permutation_stays_within_popularity_strata(drift_target) -> None:
    model, split = drift_target
    disguise = permuted(model, split)
    source = disguise.source.numpy()
    assert sorted(source.tolist()) == list(range(split.num_items))  # a bijection
    popularity = np.bincount(split.train["item"].to_numpy(), minlength=split.num_items)
    order = np.argsort(-popularity, kind="stable")
    stratum = np.empty(split.num_items, dtype=int)
    for number, members in enumerate(np.array_split(order, 4)):
        stratum[members] = number
    assert np.array_equal(stratum[source], stratum)
    assert (source != np.arange(split.num_items)).mean() > 0.5
    batch = SequenceBatch(
        users=torch.tensor([-1]), items=pad_sequences([np.array([3, 4])], DRIFT_MAX_LEN)
    )
    with torch.no_grad():
        plain, disguised = model.full_sort_predict(batch), disguise.full_sort_predict(batch)
    assert torch.equal(disguised[0], plain[0, disguise.source])


def replay(oracle: Oracle, streams: dict) -> list[list[int] | None]:
    queries = [q for stream in streams.values() for q in stream]
    accounts = [name for name, stream in streams.items() for _ in stream]
    return oracle.recommend_many(queries, accounts, 10)


def test_below_the_threshold_the_lists_are_the_undefended_ones(drift_detector) -> None:
    detector, streams, model, split = drift_detector
    never = StreamGate(detector, [math.inf, math.inf])
    gated = GatedOracle(model, permuted(model, split), never, max_len=DRIFT_MAX_LEN, max_k=10)
    plain = Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10)
    assert replay(gated, streams["eval"]) == replay(plain, streams["eval"])
    assert never.gated_share() == 0.0


def test_above_the_threshold_the_lists_are_the_defended_ones(drift_detector) -> None:
    detector, streams, model, split = drift_detector
    always = StreamGate(detector, [-math.inf, -math.inf])
    defended = permuted(model, split)
    gated = GatedOracle(model, defended, always, max_len=DRIFT_MAX_LEN, max_k=10)
    misinformed = Oracle(defended, max_len=DRIFT_MAX_LEN, max_k=10)
    lists = replay(gated, streams["eval"])
    assert lists == replay(misinformed, streams["eval"])
    assert lists != replay(Oracle(model, max_len=DRIFT_MAX_LEN, max_k=10), streams["eval"])
    assert always.gated_share() == 1.0


def test_list_followers_are_gated_and_benign_replays_are_not(drift_detector) -> None:
    detector, streams, model, split = drift_detector
    gate = StreamGate(detector)
    gated = GatedOracle(model, permuted(model, split), gate, max_len=DRIFT_MAX_LEN, max_k=10)
    owners = [f"attacker{a}" for a in range(4) for _ in range(3)]
    autoregressive_queries(gated, split.num_items, 12, 8, 10, np.random.default_rng(0), owners)
    attackers = [f"attacker{a}" for a in range(4)]
    assert all(gate.is_gated(a) for a in attackers)
    assert gate.gated_share(attackers) > 0.5
    replay(gated, streams["eval"])
    benign = list(streams["eval"])
    assert np.mean([gate.is_gated(a) for a in benign]) <= 0.1
    assert gate.gated_share(benign) < gate.gated_share(attackers)


def test_the_gate_stays_with_the_defender(drift_detector) -> None:
    detector, _, model, split = drift_detector
    gated = GatedOracle(
        model, permuted(model, split), StreamGate(detector), max_len=DRIFT_MAX_LEN, max_k=10
    )
    public = {name for name in dir(gated) if not name.startswith("_")}
    plain = Oracle(model, max_len=4, max_k=10)
    assert public == {name for name in dir(plain) if not name.startswith("_")}
    with pytest.raises(ValueError, match="thresholds"):
        StreamGate(detector, [1.0])
