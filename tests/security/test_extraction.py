"""Model extraction: query generators spend exactly their budget in oracle calls, the margin
loss matches hand values, the attack only talks to the oracle, and the surrogate's agreement
with the black box rises with the budget and beats an untrained surrogate."""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest
import torch

from graphrec.data.split import Split, pad_sequences
from graphrec.eval.ranking import evaluate
from graphrec.models.batch import SequenceBatch
from graphrec.security.extraction import (
    ExtractionConfig,
    agreement_curve,
    evaluate_extraction,
    extract,
    run_extraction,
)
from graphrec.security.oracle import Oracle
from graphrec.security.queries import (
    autoregressive_queries,
    budget_plan,
    label_prefixes,
    prefix_allowance,
    random_queries,
)
from graphrec.security.ranking_loss import list_margin_loss, ranking_margin_loss, sample_outside
from graphrec.security.surrogate import (
    SurrogateConfig,
    answer_table,
    build_surrogate,
    fit_surrogate,
    pseudo_user_graph,
)

MAX_LEN = 10


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; a shared, loaded machine makes more threads thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = SurrogateConfig(
    embedding_dim=16,
    num_layers=1,
    num_blocks=1,
    num_heads=1,
    dropout=0.1,
    max_len=MAX_LEN,
    epochs=25,
    batch_size=512,
    lr=1e-2,
)


@pytest.fixture(scope="module")
def target(drift_target) -> tuple[Oracle, Split]:
    """A tiny trained graph + SASRec target behind an oracle (k up to 10)."""
    model, split = drift_target
    return Oracle(model, max_len=MAX_LEN, max_k=10), split


class SpyOracle(Oracle):
    """An oracle that records which public attributes code outside it touches."""

    def __init__(self, *args, **kwargs) -> None:
        object.__setattr__(self, "_outer", [])
        object.__setattr__(self, "_depth", 0)
        super().__init__(*args, **kwargs)

    def __getattribute__(self, name: str):
        get = object.__getattribute__
        if name.startswith("_"):
            return get(self, name)
        if get(self, "_depth") == 0:
            get(self, "_outer").append(name)
        value = get(self, name)
        if not inspect.ismethod(value):
            return value

        def inside(*args, **kwargs):
            object.__setattr__(self, "_depth", get(self, "_depth") + 1)
            try:
                return value(*args, **kwargs)
            finally:
                object.__setattr__(self, "_depth", get(self, "_depth") - 1)

        return inside


# ---------------------------------------------------------------------- query generation
def test_random_queries_are_uniform_distinct_and_seeded() -> None:
    first = random_queries(30, 200, 6, np.random.default_rng(1))
    again = random_queries(30, 200, 6, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert all(len(set(s.tolist())) == 6 and s.min() >= 0 and s.max() < 30 for s in first)
    counts = np.bincount(np.concatenate(first), minlength=30)
    assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean()
    with pytest.raises(ValueError, match="length"):
        random_queries(5, 1, 6, np.random.default_rng(0))


def test_prefix_allowance_pays_sequence_by_sequence() -> None:
    assert prefix_allowance(4, 5, 13).tolist() == [5, 5, 3, 0]
    assert prefix_allowance(2, 5, 100).tolist() == [5, 5]
    assert prefix_allowance(3, 4, None).tolist() == [4, 4, 4]


def test_budget_plan_splits_the_budget_evenly_over_accounts() -> None:
    owners, allowance = budget_plan(10, 3, 3, account="x")
    assert owners == ["x_0", "x_0", "x_1", "x_2"] and allowance.tolist() == [3, 1, 3, 3]
    owners, allowance = budget_plan(7, 3)
    assert owners == ["attacker"] * 3 and allowance.tolist() == [3, 3, 1]


def test_multi_account_attack_spends_each_share_and_survives_refusals(target) -> None:
    oracle, split = target
    config = ExtractionConfig(
        budget=40, k=10, length=6, accounts=4, account="multi", surrogate=replace(SMALL, epochs=1)
    )
    attack = extract(oracle, split.num_items, config)
    assert [oracle.calls_of(f"multi_{a}") for a in range(4)] == [10, 10, 10, 10]
    assert attack.oracle_calls == 40
    blocking = Oracle(
        oracle._Oracle__model, max_len=MAX_LEN, max_k=10, gate=lambda a, q: a != "cut_1"
    )
    cut = extract(blocking, split.num_items, replace(config, account="cut"))
    assert cut.oracle_calls == 30 and blocking.refused_by_account["cut_1"] >= 1
    assert all(len(s) <= 6 for s in cut.sequences)


def test_label_prefixes_spends_exactly_the_budget(target) -> None:
    oracle, split = target
    sequences = random_queries(split.num_items, 4, 5, np.random.default_rng(0))
    before = oracle.calls_of("lab")
    answers = label_prefixes(oracle, sequences, 7, budget=13, account="lab")
    assert oracle.calls_of("lab") - before == 13 == len(answers)
    prefixes = sorted(p for p, _ in answers)
    paid = zip(sequences, [5, 5, 3, 0], strict=True)
    expected = sorted(tuple(s[:n].tolist()) for s, m in paid for n in range(1, m + 1))
    assert prefixes == expected
    assert all(len(t) == 7 and not set(t) & set(p) for p, t in answers)


@pytest.mark.parametrize("sampling", ["uniform", "rank"])
def test_autoregressive_queries_budget_determinism_and_provenance(target, sampling) -> None:
    oracle, split = target

    def run():
        before = oracle.calls_of("ar")
        result = autoregressive_queries(
            oracle,
            split.num_items,
            10,
            5,
            10,
            np.random.default_rng(3),
            "ar",
            budget=23,
            sampling=sampling,
        )
        return result, oracle.calls_of("ar") - before

    (sequences, answers), calls = run()
    (sequences_again, answers_again), _ = run()
    assert calls == 23 == len(answers)
    assert [len(s) for s in sequences] == [5, 5, 5, 5, 3]
    assert all(np.array_equal(a, b) for a, b in zip(sequences, sequences_again, strict=True))
    assert answers == answers_again
    returned = dict(answers)
    for sequence in sequences:
        for t in range(1, len(sequence)):
            # every appended item came from the oracle's answer to the prefix before it
            assert int(sequence[t]) in returned[tuple(sequence[:t].tolist())]
    # the answers of every prefix are kept, including each sequence's full length
    assert set(returned) == {tuple(s[:n].tolist()) for s in sequences for n in range(1, len(s) + 1)}


def test_autoregressive_without_budget_makes_all_calls(target) -> None:
    oracle, split = target
    before = oracle.calls_of("ar2")
    sequences, answers = autoregressive_queries(
        oracle, split.num_items, 3, 4, 10, np.random.default_rng(0), "ar2"
    )
    assert oracle.calls_of("ar2") - before == 12 == len(answers)
    assert all(len(s) == 4 and len(set(s.tolist())) == 4 for s in sequences)


# ---------------------------------------------------------------------- the margin loss
def test_margin_loss_is_zero_when_the_list_order_holds_by_the_margin() -> None:
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0]])  # items 0 > 1 > 2 > 3 > 4, gaps of 1
    topk = torch.tensor([[0, 1, 2]])
    assert ranking_margin_loss(scores, topk).item() == 0.0
    # gaps of 0.5 still satisfy a 0.5 margin; a smaller gap does not
    assert ranking_margin_loss(scores / 2, topk).item() == 0.0
    # reversed list: each adjacent hinge is 1 + 0.5; the negatives (items 3, 4) are below all
    assert ranking_margin_loss(scores, torch.tensor([[2, 1, 0]])).item() == pytest.approx(1.5)


def test_margin_loss_hand_values() -> None:
    listed = torch.tensor([[2.0, 1.8, 0.0]])  # adjacent hinges: 0.3, 0 -> mean 0.15
    negatives = torch.tensor([[0.0, 2.0, 0.0]])  # hinges: 0, 0.7, 0.5 -> mean 0.4
    assert list_margin_loss(listed, negatives).item() == pytest.approx(0.15 + 0.4)
    # a list shorter than k: only its valid ranks count
    valid = torch.tensor([[True, True, False]])
    assert list_margin_loss(listed, negatives, valid=valid).item() == pytest.approx(0.3 + 0.35)
    scores = torch.tensor([[2.0, 1.8, 0.0, 5.0]])
    padded = torch.tensor([[0, 1, -1]])
    # the only item outside the list and the query is 2 (item 3 is excluded as a query item)
    loss = ranking_margin_loss(scores, padded, exclude=torch.tensor([[3]]))
    assert loss.item() == pytest.approx(0.3 + 0.0)


def test_margin_loss_is_differentiable_and_pushes_the_right_way() -> None:
    scores = torch.tensor([[0.0, 1.0, 0.0, 0.0]], requires_grad=True)
    ranking_margin_loss(scores, torch.tensor([[0, 1]]), negatives=torch.tensor([[2, 3]])).backward()
    assert scores.grad[0, 0] < 0 < scores.grad[0, 1]  # descent raises item 0, lowers item 1


def test_sample_outside_is_exact_and_uniform() -> None:
    excluded = torch.tensor([[2, 5, -1, 5], [0, 1, 2, 3]])
    draws = sample_outside(excluded, 8, 8000, generator=torch.Generator().manual_seed(0))
    first = np.bincount(draws[0].numpy(), minlength=8)
    assert first[[2, 5]].sum() == 0 and first.min(initial=9999, where=first > 0) > 1100
    assert set(draws[1].tolist()) == {4, 5, 6, 7}
    with pytest.raises(ValueError, match="every item"):
        sample_outside(torch.tensor([[0, 1]]), 2, 1)


# ---------------------------------------------------------------------- the surrogate
def test_pseudo_user_graph_has_one_user_per_synthetic_sequence() -> None:
    graph = pseudo_user_graph([[0, 1, 2], [2, 3], [1]], 5)
    assert graph.num_users == 3 and graph.num_items == 5 and graph.num_edges == 6
    surrogate = build_surrogate([[0, 1, 2], [2, 3], [1]], 5, replace(SMALL, max_len=4))
    assert surrogate.num_users == 3 and not surrogate.fuse_user


def test_answer_table_packs_every_prefix_at_its_position() -> None:
    answers = [((4,), (1, 2)), ((4, 7), (3, 0)), ((4, 7, 1), (2, 9)), ((5,), (6, 8))]
    per_answer = answer_table(answers, 4)
    assert per_answer.tokens.shape == (4, 4) and per_answer.topk.shape == (4, 1, 2)
    assert per_answer.tokens[2].tolist() == [0, 5, 8, 2]  # left-padded tokens (item + 1)
    packed = answer_table(answers, 4, sequences=[[4, 7, 1], [5]])
    assert packed.num_labels == 4 and packed.tokens.shape == (2, 4)
    # position j of a sequence row carries the answer to the prefix ending at j
    assert packed.topk[0].tolist() == [[-1, -1], [1, 2], [3, 0], [2, 9]]
    assert packed.topk[1].tolist() == [[-1, -1]] * 3 + [[6, 8]]
    # a sequence longer than the window: windows end every L items and at its end (overlapping)
    long = [((1,), (0,)), ((1, 2), (0,)), ((1, 2, 3), (0,))]
    windows = answer_table(long, 2, sequences=[[1, 2, 3]])
    assert windows.tokens.tolist() == [[2, 3], [3, 4]] and windows.num_labels == 3
    assert windows.topk[1, :, 0].tolist() == [-1, 0]  # prefix (1, 2) is labelled once
    with pytest.raises(ValueError, match="not prefixes"):
        answer_table(answers, 4, sequences=[[4, 7]])


@pytest.mark.parametrize("pack", ["sequence", "answer"])
def test_both_packings_learn_the_same_lists(pack) -> None:
    rng = np.random.default_rng(0)
    sequences = random_queries(20, 30, 4, rng)
    # the "black box" always answers the next 5 ids after the last item
    answers = [
        (tuple(s[:n].tolist()), tuple((int(s[n - 1]) + j) % 20 for j in range(1, 6)))
        for s in sequences
        for n in range(1, 5)
    ]
    answers = [(p, tuple(i for i in t if i not in p)) for p, t in answers]
    config = replace(SMALL, epochs=20, pack=pack, batch_size=8 if pack == "sequence" else 32)
    surrogate = build_surrogate(sequences, 20, config)
    history = fit_surrogate(
        surrogate, answers, config, sequences=sequences if pack == "sequence" else None
    )
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    hits = 0
    for prefix, listed in answers[:40]:
        batch = SequenceBatch(
            users=torch.tensor([-1]), items=pad_sequences([np.array(prefix)], MAX_LEN)
        )
        scores = surrogate.full_sort_predict(batch)[0].detach()
        scores[list(prefix)] = float("-inf")
        hits += int(scores.argmax()) == listed[0]
    assert hits >= 30  # the top-1 reproduced on most of 40 prefixes (chance: about 1 in 16)


def test_fit_surrogate_lowers_the_loss_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    sequences = random_queries(20, 30, 4, rng)
    answers = [(tuple(s[:2].tolist()), tuple(range(10, 15))) for s in sequences]
    config = replace(SMALL, epochs=15)
    one = build_surrogate(sequences, 20, config)
    history = fit_surrogate(one, answers, config)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    two = build_surrogate(sequences, 20, config)
    assert fit_surrogate(two, answers, config)[-1]["loss"] == pytest.approx(history[-1]["loss"])


# ---------------------------------------------------------------------- the attack
def test_attack_touches_only_the_oracle_interface(target) -> None:
    oracle, split = target
    spy = SpyOracle(oracle._Oracle__model, max_len=MAX_LEN, max_k=10)
    config = ExtractionConfig(budget=17, k=10, length=6, surrogate=replace(SMALL, epochs=1))
    attack = extract(spy, split.num_items, config)
    assert attack.oracle_calls == 17 == spy.calls_of("attacker") == len(attack.answers)
    assert set(spy._outer) <= {
        "recommend",
        "recommend_batch",
        "recommend_many",
        "calls_of",
        "num_items",
    }
    assert "recommend_many" in spy._outer
    with pytest.raises(TypeError, match="Oracle"):
        extract(oracle._Oracle__model, split.num_items, config)


def test_run_extraction_reports_evaluation_calls_apart(target) -> None:
    oracle, split = target
    config = ExtractionConfig(
        budget=30, strategy="random", k=10, length=6, surrogate=replace(SMALL, epochs=2)
    )
    attack_before = oracle.calls_of("attacker")
    eval_before = oracle.calls_of("evaluation")
    result = run_extraction(oracle, split, config)
    metrics = result.metrics
    # the surrogate's accuracy is the evaluator's masked full ranking
    reference = evaluate(result.attack.surrogate, split, "test", ks=(10,), max_len=6)
    assert metrics["surrogate_ndcg@10"] == pytest.approx(reference["ndcg@10"])
    assert metrics["surrogate_hit@10"] == pytest.approx(reference["hit@10"])
    assert metrics["oracle_calls"] == 30 == oracle.calls_of("attacker") - attack_before
    assert metrics["eval_calls"] == len(split.test) == oracle.calls_of("evaluation") - eval_before
    assert 0.0 <= metrics["agreement@1"] <= 1.0 and 0.0 <= metrics["agreement@10"] <= 1.0
    assert metrics["attack_success"] == pytest.approx(
        metrics["surrogate_ndcg@10"] / metrics["target_ndcg@10"]
    )
    rows = agreement_curve(oracle, split, [12], replace(config, surrogate=replace(SMALL, epochs=1)))
    assert rows[0]["budget"] == 12 and rows[0]["oracle_calls"] == 12


def test_agreement_is_the_target_against_itself_when_lists_match(target) -> None:
    oracle, split = target
    # the target scored through the evaluation path agrees with its own oracle completely
    metrics = evaluate_extraction(oracle._Oracle__model, oracle, split, max_len=MAX_LEN)
    assert metrics["agreement@1"] == 1.0 and metrics["agreement@10"] == 1.0


def test_agreement_rises_with_budget_and_beats_an_untrained_surrogate(target) -> None:
    oracle, split = target
    base = ExtractionConfig(k=10, length=8, surrogate=SMALL)
    untrained = build_surrogate([[0]], split.num_items, SMALL)
    floor = evaluate_extraction(untrained, oracle, split, max_len=MAX_LEN)["agreement@10"]
    small = run_extraction(oracle, split, replace(base, budget=8)).metrics["agreement@10"]
    large = run_extraction(oracle, split, replace(base, budget=160)).metrics["agreement@10"]
    assert large > small + 0.05
    assert large > floor + 0.2
    assert large >= 0.7
