"""GRO: the swap matrix carries a real gradient, the swap loss moves rankings, lambda=0 is plain,
and lambda is chosen on validation users without reading a test item."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from graphrec.data.split import Split
from graphrec.eval import ranking
from graphrec.models.batch import SequenceBatch, iter_batches, training_sequences
from graphrec.models.factory import ModelSpec
from graphrec.security import extraction, served
from graphrec.security.extraction import ExtractionConfig
from graphrec.security.gro import (
    GROConfig,
    build_student,
    gro_step,
    query_batch,
    query_item_mask,
    sample_negatives,
    student_swap_gradient,
    swap_loss,
    swap_matrix,
    swap_targets,
    train_gro,
    warm_up_student,
)
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
        embedding_dim=16,
        num_layers=1,
        num_blocks=1,
        num_heads=1,
        dropout=0.2,
    )


def tiny_config(**overrides: object) -> GROConfig:
    base = dict(k=5, max_len=MAX_LEN, batch_size=16, epochs=2, seed=3, lr=1e-2, student_lr=1e-2)
    base.update(overrides)
    return GROConfig(**base)


def first_batch(split: Split):
    return next(iter_batches(training_sequences(split, MAX_LEN), 16))


def test_swap_matrix_is_a_one_hot_leaf_with_grad() -> None:
    topk = torch.tensor([[2, 0, 4], [1, 3, 2]])
    a = swap_matrix(topk, num_items=5)
    assert a.shape == (2, 3, 5) and a.requires_grad and a.is_leaf
    assert torch.equal(a.sum(2), torch.ones(2, 3))
    assert torch.equal(a.argmax(2), topk)
    with pytest.raises(ValueError, match="outside"):
        swap_matrix(torch.tensor([[5]]), num_items=5)


def test_gradient_wrt_swap_matrix_has_the_hinge_structure() -> None:
    # Student scores items 0..4; the target ranked [1, 0, 2]: c = [1, 3, 2].
    scores = torch.tensor([[3.0, 1.0, 2.0, -1.0, 0.0]])
    topk = torch.tensor([[1, 0, 2]])
    negatives = torch.tensor([[4, 4, 3]])  # scores 0, 0, -1: every negative hinge inactive
    a = swap_matrix(topk, 5)
    loss, grad = student_swap_gradient(a, scores, negatives)
    # Only hinge c1 - c0 + 0.5 = 2.5 is active (c2 - c1 + 0.5 < 0): mean over 2 pairs.
    assert loss.item() == pytest.approx(1.25)
    expected = torch.stack([-0.5 * scores[0], 0.5 * scores[0], 0.0 * scores[0]]).unsqueeze(0)
    assert torch.allclose(grad, expected)
    swap_to = swap_targets(grad, a).argmax(2)
    # rank 0 wants a higher c: the worst-scored item hurts most; rank 1 wants a lower c: the best;
    # rank 2 has no active hinge: it keeps its own item.
    assert swap_to.tolist() == [[3, 0, 2]]
    blocked = torch.tensor([[False, False, False, True, False]])
    assert swap_targets(grad, a, blocked).argmax(2).tolist() == [[4, 0, 2]]


def test_gradient_is_zero_when_every_hinge_is_inactive() -> None:
    scores = torch.tensor([[9.0, 6.0, 3.0, -5.0, -4.0]])
    topk = torch.tensor([[0, 1, 2]])
    a = swap_matrix(topk, 5)
    loss, grad = student_swap_gradient(a, scores, torch.tensor([[3, 4, 3]]))
    assert loss.item() == 0.0
    assert torch.count_nonzero(grad) == 0
    assert torch.equal(swap_targets(grad, a), a.detach())
    # no swap -> the swap loss is its margin, constant in the target's scores
    target = torch.randn(1, 5, requires_grad=True)
    value = swap_loss(a, swap_targets(grad, a), target, swap_margin=0.3)
    assert value.item() == pytest.approx(0.3)


def test_sampled_negatives_avoid_the_list_and_the_query() -> None:
    topk = torch.tensor([[0, 1], [2, 3]])
    queries = SequenceBatch(
        users=torch.tensor([-1, -1]), items=torch.tensor([[0, 6], [0, 0]])
    )  # row 0 holds item 5 (token 6), row 1 nothing
    gen = torch.Generator().manual_seed(0)
    seen: list[set[int]] = [set(), set()]
    for _ in range(30):
        draws = sample_negatives(topk, queries, 6, gen)
        assert draws.shape == (2, 2)
        seen[0] |= set(draws[0].tolist())
        seen[1] |= set(draws[1].tolist())
    assert seen[0] == {2, 3, 4} and seen[1] == {0, 1, 4, 5}


def test_query_batch_cuts_random_prefixes_and_is_anonymous(tiny_split: Split) -> None:
    batch = first_batch(tiny_split)
    queries = query_batch(batch, generator=torch.Generator().manual_seed(0), repeats=2)
    assert queries.items.shape == (2 * len(batch), MAX_LEN)
    assert (queries.users == -1).all()
    for row, full in zip(queries.items, batch.items.repeat(2, 1), strict=True):
        real, prefix = full[full != 0], row[row != 0]
        assert 1 <= len(prefix) <= len(real)
        assert torch.equal(prefix, real[: len(prefix)])
        assert (row[: MAX_LEN - len(prefix)] == 0).all()  # left-padded
    mask = query_item_mask(queries, tiny_split.num_items)
    assert mask.sum(1).tolist() == [len(set(r[r != 0].tolist())) for r in queries.items]


def _setup(tiny_split: Split, lamb: float):
    torch.manual_seed(0)
    spec = tiny_spec(tiny_split)
    config = tiny_config(lamb=lamb)
    target = build_for_split(spec, tiny_split)
    student = build_student(spec, tiny_split, config)
    return spec, config, target, student


def test_gro_step_gradient_reaches_the_swap_matrix(tiny_split: Split) -> None:
    _, config, target, student = _setup(tiny_split, lamb=1.0)
    opt = torch.optim.AdamW(target.parameters(), lr=1e-2)
    out = gro_step(
        target,
        student,
        opt,
        None,
        first_batch(tiny_split),
        config,
        torch.Generator().manual_seed(1),
    )
    assert out.grad is not None and out.grad.abs().sum() > 0
    assert out.losses["swapped"] > 0  # some ranks get a different item
    # A' never proposes an item of the query (the oracle could not serve it)
    mask = query_item_mask(out.queries, tiny_split.num_items)
    assert not mask.gather(1, out.swap_to).any()


def _gap(model, queries, topk, swap_to) -> float:
    """Mean S[a'_i] - S[a_i] over the ranks GRO asks to swap."""
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(queries)
    model.train()
    moved = swap_to != topk
    return float((scores.gather(1, swap_to) - scores.gather(1, topk))[moved].mean())


def test_swap_loss_moves_target_scores_towards_a_prime(tiny_split: Split) -> None:
    _, _, target, student = _setup(tiny_split, lamb=0.0)
    batch = first_batch(tiny_split)
    gaps = {}
    for lamb in (0.0, 5.0):
        model, stud = copy.deepcopy(target), copy.deepcopy(student)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        torch.manual_seed(5)
        out = gro_step(
            model, stud, opt, None, batch, tiny_config(lamb=lamb), torch.Generator().manual_seed(2)
        )
        gaps[lamb] = _gap(model, out.queries, out.topk, out.swap_to)
        before = _gap(target, out.queries, out.topk, out.swap_to)
    assert gaps[5.0] > gaps[0.0] + 1e-3
    assert gaps[5.0] > before


def test_lambda_zero_is_plain_training_bit_for_bit(tiny_split: Split) -> None:
    _, config, target, student = _setup(tiny_split, lamb=0.0)
    plain, defended = copy.deepcopy(target), copy.deepcopy(target)
    opt_plain = torch.optim.AdamW(plain.parameters(), lr=1e-2, weight_decay=1e-5)
    opt_gro = torch.optim.AdamW(defended.parameters(), lr=1e-2, weight_decay=1e-5)
    opt_student = torch.optim.AdamW(student.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(4)
    batches = list(iter_batches(training_sequences(tiny_split, MAX_LEN), 6))
    torch.manual_seed(11)
    for batch in batches:
        loss = plain.calculate_loss(batch)
        opt_plain.zero_grad(set_to_none=True)
        loss.backward()
        opt_plain.step()
    plain_rng = torch.get_rng_state()
    torch.manual_seed(11)
    for batch in batches:
        gro_step(defended, student, opt_gro, opt_student, batch, config, generator)
    assert torch.equal(torch.get_rng_state(), plain_rng)  # GRO draws from its own streams
    for (name, p), q in zip(plain.named_parameters(), defended.parameters(), strict=True):
        assert torch.equal(p, q), name
    # ...and a positive lambda does change the weights
    other = copy.deepcopy(target)
    gro_step(
        other,
        copy.deepcopy(student),
        torch.optim.AdamW(other.parameters(), lr=1e-2, weight_decay=1e-5),
        None,
        batches[0],
        tiny_config(lamb=1.0),
        torch.Generator().manual_seed(4),
    )
    changed = copy.deepcopy(target)
    torch.manual_seed(11)
    loss = changed.calculate_loss(batches[0])
    opt = torch.optim.AdamW(changed.parameters(), lr=1e-2, weight_decay=1e-5)
    loss.backward()
    opt.step()
    assert any(
        not torch.equal(p, q) for p, q in zip(other.parameters(), changed.parameters(), strict=True)
    )


def test_train_gro_fine_tunes_and_keeps_a_gro_epoch(tiny_split: Split, tmp_path) -> None:
    spec = tiny_spec(tiny_split)
    init = build_for_split(spec, tiny_split).state_dict()
    result = train_gro(tiny_config(lamb=0.1), tiny_split, spec, init_state=init, run_dir=tmp_path)
    assert result.best_epoch in (1, 2)
    assert len(result.history) == 2
    assert {"losses/swap", "losses/student", "valid/ndcg@10"} <= set(result.history[0])
    assert 0.0 <= result.test["ndcg@10"] <= 1.0
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "last.pt").is_file()
    weights = result.model.state_dict()
    assert any(not torch.equal(weights[k], init[k]) for k in init)


def test_utility_bound_selects_the_last_epoch_that_keeps_it(tiny_split: Split) -> None:
    spec = tiny_spec(tiny_split)
    init = build_for_split(spec, tiny_split).state_dict()
    config = tiny_config(lamb=1.0, epochs=3, patience=10, min_valid_utility=1e-9)
    result = train_gro(config, tiny_split, spec, init_state=init)
    assert result.best_epoch == 3  # every epoch keeps a near-zero bound: the last, most defended
    plain = train_gro(replace(config, min_valid_utility=None), tiny_split, spec, init_state=init)
    best = max(h["valid/ndcg@10"] for h in plain.history)
    assert plain.best_valid["ndcg@10"] == best


def test_student_warm_up_learns_the_served_lists_and_leaves_the_target(tiny_split: Split) -> None:
    spec = tiny_spec(tiny_split)
    target = build_for_split(spec, tiny_split)
    before = copy.deepcopy(target.state_dict())
    student = build_student(spec, tiny_split, tiny_config())
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-2)
    data = training_sequences(tiny_split, MAX_LEN)
    config = tiny_config(student_warmup_epochs=8)
    losses = warm_up_student(target, student, optimizer, data, config, torch.Generator())
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
    result = train_gro(config, tiny_split, spec, init_state=before)
    assert len(result.extra["student_warmup_losses"]) == 8


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="lamb"):
        GROConfig(lamb=-1.0)
    with pytest.raises(ValueError, match="k must"):
        GROConfig(k=0)
    with pytest.raises(ValueError, match="min_valid_utility"):
        GROConfig(min_valid_utility=1.5)
    with pytest.raises(ValueError, match="max_len"):
        train_gro(
            GROConfig(max_len=3),
            None,
            ModelSpec(name="graphrec", num_users=2, num_items=3, max_len=4),
        )


# ---------------------------------------------------------------------- lambda chosen on validation
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
