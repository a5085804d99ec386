"""GRO's lambda is chosen on validation users: the choice rule by hand, and a sweep + choice that
never touches a test item (every reader of test items is made to fail)."""

from __future__ import annotations

import pytest
import torch

from graphrec.data.split import Split
from graphrec.eval import ranking
from graphrec.models.factory import ModelSpec
from graphrec.security import extraction, served
from graphrec.security.extraction import ExtractionConfig
from graphrec.security.gro import GROConfig
from graphrec.security.gro.select import GROCandidate, choose_lambda, sweep_candidates
from graphrec.security.served import served_model_metrics
from graphrec.security.surrogate import SurrogateConfig
from graphrec.train.trainer import build_for_split

MAX_LEN = 8


def tiny_spec(split: Split) -> ModelSpec:
    return ModelSpec(
        name="graphrec",
        num_users=split.num_users,
        num_items=split.num_items,
        max_len=MAX_LEN,
        embedding_dim=8,
        num_layers=1,
        num_blocks=1,
        num_heads=1,
    )


def candidate(lamb: float, utility: float, agreement: float) -> GROCandidate:
    valid = {"lambda": lamb, "served_utility": utility, "valid_agreement@10": agreement}
    return GROCandidate(lamb, None, None, valid)


def test_choice_takes_the_lowest_agreement_that_keeps_utility() -> None:
    rows = [candidate(0.01, 0.99, 0.6), candidate(0.1, 0.96, 0.5), candidate(1.0, 0.7, 0.2)]
    assert choose_lambda(rows, 0.95).lamb == 0.1
    assert choose_lambda(rows, 0.995).lamb == 0.01  # none keeps it: the best utility
    with pytest.raises(ValueError, match="no GRO candidates"):
        choose_lambda([], 0.95)


def test_sweep_and_choice_never_read_test_items(tiny_split, monkeypatch) -> None:
    def refuse_test(original):
        def guarded(split, stage, *args, **kwargs):
            if stage == "test":
                raise AssertionError("test items were read during selection")
            return original(split, stage, *args, **kwargs)

        return guarded

    for module in (extraction, served, ranking):
        monkeypatch.setattr(module, "eval_sequences", refuse_test(module.eval_sequences))
    spec = tiny_spec(tiny_split)
    torch.manual_seed(0)
    target = build_for_split(spec, tiny_split)
    attack = ExtractionConfig(
        budget=30,
        k=5,
        length=5,
        surrogate=SurrogateConfig(embedding_dim=8, num_layers=1, num_blocks=1, epochs=1),
    )
    config = GROConfig(k=5, max_len=MAX_LEN, batch_size=16, epochs=1, min_valid_utility=0.5)
    candidates = sweep_candidates(
        config,
        tiny_split,
        spec,
        (0.1, 1.0),
        attack,
        init_state=target.state_dict(),
        target_valid_served=served_model_metrics(target, tiny_split, "valid", max_len=MAX_LEN)[
            "ndcg@10"
        ],
    )
    chosen = choose_lambda(candidates, 0.5)
    assert chosen in candidates and chosen.result.test == {}
    assert all(set(c.valid) >= {"served_utility", "valid_agreement@10"} for c in candidates)
