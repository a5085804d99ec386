import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from graphrec.data.ratings import from_raw_events
from graphrec.data.split import PAD, leave_one_out
from graphrec.models.baselines import LightGCNBPR, MostPopular, SimpleSequentialRecommender
from graphrec.models.batch import SequenceBatch, training_sequences


class TableEncoder(nn.Module):
    """Stand-in with the encoders' signature: a plain embedding table (LightGCN, 0 layers)."""

    def __init__(self, num_users: int, num_items: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_users = num_users
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        nn.init.normal_(self.embedding.weight, std=0.1)

    def forward(self, edge_index, edge_weight=None):
        x = self.embedding.weight
        return x[: self.num_users], x[self.num_users :]


def graph_of(split):
    users = torch.tensor(split.train["user"].to_numpy(np.int64))
    items = torch.tensor(split.train["item"].to_numpy(np.int64)) + split.num_users
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


# --- SimpleSequentialRecommender --------------------------------------------------------------


def test_simple_model_is_the_source_architecture():
    model = SimpleSequentialRecommender(num_items=50)
    assert model.item_embedding.embedding_dim == 256
    assert model.item_embedding.num_embeddings == 51
    assert model.item_embedding.padding_idx == PAD
    assert model.dropout.p == pytest.approx(0.1)
    assert (model.output.in_features, model.output.out_features) == (256, 50)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1


def test_prefix_means_are_means_of_each_prefix():
    torch.manual_seed(0)
    model = SimpleSequentialRecommender(num_items=9, embedding_dim=4).eval()
    items = torch.tensor([[PAD, PAD, 3, 5, 1], [2, 4, 6, 8, 9]])
    means = model.prefix_means(items)
    emb = model.item_embedding.weight
    torch.testing.assert_close(means[0, 3], emb[[3, 5]].mean(0))
    torch.testing.assert_close(means[1, 4], emb[[2, 4, 6, 8, 9]].mean(0))
    scores = model.full_sort_predict(SequenceBatch(torch.tensor([0, 1]), items))
    torch.testing.assert_close(scores[0], model.output(emb[[3, 5, 1]].mean(0)))


def test_simple_model_trains_on_every_prefix(tiny_split, fit_losses):
    torch.manual_seed(0)
    model = SimpleSequentialRecommender(num_items=tiny_split.num_items, embedding_dim=32)
    data = training_sequences(tiny_split, max_len=10)
    losses = fit_losses(model, data, 1e-2)
    assert losses[-1] < 0.5 * losses[0]
    # every non-pad target position contributed: the gradient reaches every input item
    grad_rows = model.item_embedding.weight.grad.abs().sum(1) > 0
    assert grad_rows[data.items[data.targets != PAD]].all()


# --- MostPopular ------------------------------------------------------------------------------


def _popularity_split():
    # train counts: item a 4, item b 3, item c 2, item d 1; valid/test items are e and f
    rows = []
    for user, seq in enumerate(["abcdef", "abcef", "abef", "aef"]):
        rows += [(f"u{user}", item, 3.0, t) for t, item in enumerate(seq)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return leave_one_out(from_raw_events(frame))


def test_most_popular_ranks_by_train_counts():
    split = _popularity_split()
    model = MostPopular.from_split(split)
    index = split.ratings.item_index
    expected = [index(i) for i in "abcd"]
    assert model.counts[[index(i) for i in "abcdef"]].tolist() == [4, 3, 2, 1, 0, 0]
    batch = SequenceBatch(users=torch.tensor([0, 3]), items=torch.tensor([[PAD, 1], [PAD, 2]]))
    assert model.recommend(batch, k=4).tolist() == [expected, expected]
    top = model.recommend(batch, k=2, exclude=[np.array([index("a")]), np.array([], np.int64)])
    assert top.tolist() == [expected[1:3], expected[:2]]
    assert not model.trainable and model.calculate_loss(batch).item() == 0.0


# --- LightGCN alone ---------------------------------------------------------------------------


def test_lightgcn_bpr_scores_are_dot_products_and_bpr_trains(tiny_split, fit_losses):
    torch.manual_seed(0)
    encoder = TableEncoder(tiny_split.num_users, tiny_split.num_items, 16)
    model = LightGCNBPR(
        encoder=encoder, num_users=tiny_split.num_users, num_items=tiny_split.num_items
    )
    model.attach_graph(graph_of(tiny_split))
    batch = SequenceBatch(users=torch.tensor([0, 2]), items=torch.tensor([[PAD, 1, 2], [3, 4, 5]]))
    user_emb, item_emb = encoder(None)
    torch.testing.assert_close(model.full_sort_predict(batch), user_emb[[0, 2]] @ item_emb.T)

    losses = fit_losses(model, training_sequences(tiny_split, max_len=20), 5e-2)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_lightgcn_bpr_folds_in_an_unknown_user(tiny_split):
    encoder = TableEncoder(tiny_split.num_users, tiny_split.num_items, 8)
    model = LightGCNBPR(
        encoder=encoder, num_users=tiny_split.num_users, num_items=tiny_split.num_items
    )
    model.attach_graph(graph_of(tiny_split))
    batch = SequenceBatch(users=torch.tensor([-1]), items=torch.tensor([[PAD, 1, 3]]))
    _, item_emb = encoder(None)
    torch.testing.assert_close(
        model.full_sort_predict(batch)[0], item_emb[[0, 2]].mean(0) @ item_emb.T
    )


def test_lightgcn_bpr_builds_the_real_encoder(tiny_split):
    encoders = pytest.importorskip("graphrec.models.encoders")
    if not hasattr(encoders, "build_encoder"):
        pytest.skip("graphrec.models.encoders.build_encoder not there yet")
    model = LightGCNBPR.build(
        num_users=tiny_split.num_users, num_items=tiny_split.num_items, embedding_dim=8
    )
    model.attach_graph(graph_of(tiny_split))
    loss = model.calculate_loss(training_sequences(tiny_split, max_len=10))
    assert torch.isfinite(loss) and loss.requires_grad
