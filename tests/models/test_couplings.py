"""The graph-sequence couplings: item-transition edges, contrastive alignment, random windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from graphrec.data.ratings import from_raw_events
from graphrec.data.split import leave_one_out, user_histories
from graphrec.graph.transitions import transition_edges, with_transitions
from graphrec.models.batch import training_sequences
from graphrec.models.recommender import alignment_loss
from tests.models.test_recommender import make_model


def two_user_split():
    # u0: a b c a d (then valid e, test f); u1: c b g (then valid h, test i)
    rows = [("u0", m, 4.0, t) for t, m in enumerate("abcadef")]
    rows += [("u1", m, 3.0, t) for t, m in enumerate("cbghi")]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return leave_one_out(from_raw_events(frame))


def test_transition_edges_join_consecutive_train_items_once_in_both_directions():
    split = two_user_split()
    name = {str(raw): i for i, raw in enumerate(split.ratings.item_ids)}
    edges = transition_edges(split.train, split.num_users, split.num_items)
    got = {(int(s), int(t)) for s, t in edges.T}
    expected_pairs = {("a", "b"), ("b", "c"), ("c", "a"), ("a", "d"), ("c", "b"), ("b", "g")}
    offset = split.num_users
    expected = set()
    for x, y in expected_pairs:
        expected |= {(name[x] + offset, name[y] + offset), (name[y] + offset, name[x] + offset)}
    assert got == expected  # b-c counted once although both users show it; no valid/test item
    assert edges.shape[1] == len(expected)


def test_with_transitions_keeps_the_user_item_edges_and_weights_new_ones_one():
    split = two_user_split()
    base = torch.tensor([[0, split.num_users], [split.num_users, 0]])
    edges, weight = with_transitions(base, torch.tensor([0.8, 0.8]), split)
    assert torch.equal(edges[:, :2], base) and edges.shape[1] > 2
    assert weight[:2].tolist() == pytest.approx([0.8, 0.8]) and (weight[2:] == 1).all()
    assert with_transitions(base, None, split)[1] is None


def test_alignment_loss_is_symmetric_infonce():
    torch.manual_seed(0)
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / 0.5
    labels = torch.arange(5)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(alignment_loss(a, b, 0.5), expected)
    # aligned views score lower than shuffled ones
    assert alignment_loss(a, a, 0.1) < alignment_loss(a, a[torch.randperm(5)], 0.1)


def test_alignment_term_enters_the_loss_and_trains_the_user_nodes(tiny_split):
    data = training_sequences(tiny_split, max_len=12)
    grads = []
    for weight in (0.0, 0.5):
        model = make_model(tiny_split, bpr_weight=0.0, fuse_user=False, align_weight=weight)
        loss = model.calculate_loss(data)
        if weight:
            parts = model.last_losses
            torch.testing.assert_close(loss.detach(), parts["ce"] + weight * parts["align"])
        else:
            assert "align" not in model.last_losses
        loss.backward()
        grads.append(model.encoder.embedding.weight.grad[: tiny_split.num_users].clone())
    assert not torch.allclose(grads[0], grads[1])  # the term reaches the user nodes
    with pytest.raises(ValueError, match="align"):
        make_model(tiny_split, align_temperature=0.0)


def test_random_windows_are_consecutive_train_items_and_seeded(tiny_split):
    max_len = 3
    last = training_sequences(tiny_split, max_len)
    histories = user_histories(tiny_split.train, tiny_split.num_users)
    draws = [training_sequences(tiny_split, max_len, np.random.default_rng(0)) for _ in range(2)]
    assert torch.equal(draws[0].items, draws[1].items)  # same seed, same windows
    long = [len(h) > max_len + 1 for h in histories]
    assert any(long)  # the fixture has histories to crop
    others = [training_sequences(tiny_split, max_len, np.random.default_rng(s)) for s in range(8)]
    assert any(not torch.equal(o.items, last.items) for o in others)
    for row, user in enumerate(draws[0].users.tolist()):
        tokens = torch.cat([draws[0].items[row], draws[0].targets[row, -1:]])
        window = (tokens[tokens > 0] - 1).numpy()
        history = histories[user]
        starts = [
            s
            for s in range(len(history) - len(window) + 1)
            if np.array_equal(history[s : s + len(window)], window)
        ]
        assert starts, (user, window, history)  # a consecutive run of the TRAIN history
        if len(history) <= max_len + 1:
            assert np.array_equal(window, history)
