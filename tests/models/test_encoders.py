"""Tests for graphrec.models.encoders: LightGCN, GraphSAGE, GAT and the DGL twins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.nn import LGConv, SAGEConv

from graphrec.graph.dgl_compat import dgl_available
from graphrec.graph.schema import item_node_index
from graphrec.models import encoders
from graphrec.models.encoders import (
    DGLLightGCNEncoder,
    DGLSAGEEncoder,
    GATEncoder,
    LightGCNEncoder,
    SAGEEncoder,
    build_encoder,
)
from graphrec.models.encoders.propagation import SparsePattern

NUM_USERS, NUM_ITEMS, DIM = 6, 8, 8
NUM_NODES = NUM_USERS + NUM_ITEMS
ISOLATED_USER, ISOLATED_ITEM = NUM_USERS - 1, NUM_ITEMS - 1  # given no edges below

needs_dgl = pytest.mark.skipif(not dgl_available(), reason="DGL is not installed")
PYG_CLASSES = (LightGCNEncoder, SAGEEncoder, GATEncoder)


def make_graph(seed: int = 0, num_ratings: int = 25) -> tuple[Tensor, Tensor]:
    """Random user-item ratings (last user and item left isolated), flattened, both directions."""
    generator = torch.Generator().manual_seed(seed)
    users = torch.randint(0, NUM_USERS - 1, (num_ratings,), generator=generator)  # [R]
    items = torch.randint(0, NUM_ITEMS - 1, (num_ratings,), generator=generator)  # [R]
    pairs = torch.unique(torch.stack([users, items]), dim=1)  # [2, R'] no duplicate ratings
    users, items = pairs[0], item_node_index(pairs[1], NUM_USERS)
    ratings = torch.randint(1, 6, (pairs.size(1),), generator=generator).float()  # [R']
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])  # [2, 2R']
    return edge_index, torch.cat([ratings, ratings]) / 5.0  # [2, 2R'], [2R']


def encoder(cls: type[nn.Module], num_layers: int = 2, **kwargs: object) -> nn.Module:
    return cls(
        num_users=NUM_USERS,
        num_items=NUM_ITEMS,
        embedding_dim=DIM,
        num_layers=num_layers,
        **kwargs,
    )


def dense_adjacency(edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
    """``A[dst, src] = w`` as a dense matrix, built without any library normalisation."""
    weight = torch.ones(edge_index.size(1)) if edge_weight is None else edge_weight
    adjacency = torch.zeros(NUM_NODES, NUM_NODES)  # [N, N]
    adjacency.index_put_((edge_index[1], edge_index[0]), weight, accumulate=True)
    return adjacency


@pytest.mark.parametrize("cls", PYG_CLASSES)
@pytest.mark.parametrize("weighted", [False, True])
def test_shapes_finite_and_isolated_nodes(cls: type[nn.Module], weighted: bool) -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    users, items = encoder(cls)(edge_index, edge_weight if weighted else None)
    assert users.shape == (NUM_USERS, DIM) and items.shape == (NUM_ITEMS, DIM)
    assert torch.isfinite(users).all() and torch.isfinite(items).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_lightgcn_one_layer_equals_dense_symmetric_normalisation(weighted: bool) -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    weight = edge_weight if weighted else None
    model = encoder(LightGCNEncoder, num_layers=1)
    users, items = model(edge_index, weight)
    adjacency = dense_adjacency(edge_index, weight)  # [N, N]
    degree = adjacency.sum(dim=1)  # [N]
    inv_sqrt = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))  # [N]
    normalised = inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]  # D^-1/2 A D^-1/2
    ego = model.embedding.weight.detach()  # [N, d]
    expected = (ego + normalised @ ego) / 2  # mean of layers 0 and 1
    torch.testing.assert_close(torch.cat([users, items]), expected, atol=1e-6, rtol=1e-5)
    # An isolated node has an all-zero layer 1, so it keeps half its ego embedding.
    torch.testing.assert_close(users[ISOLATED_USER], ego[ISOLATED_USER] / 2)
    torch.testing.assert_close(items[ISOLATED_ITEM], ego[NUM_NODES - 1] / 2)


@pytest.mark.parametrize("weighted", [False, True])
def test_lightgcn_equals_stacked_lgconv(weighted: bool) -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    weight = edge_weight if weighted else None
    model = encoder(LightGCNEncoder, num_layers=3)
    users, items = model(edge_index, weight)
    conv, h = LGConv(), model.embedding.weight
    layers = [h]
    for _ in range(3):
        h = conv(h, edge_index, weight)
        layers.append(h)
    torch.testing.assert_close(torch.cat([users, items]), torch.stack(layers).mean(0))


@pytest.mark.parametrize("cls", PYG_CLASSES)
def test_zero_layers_is_the_plain_embedding_table(cls: type[nn.Module]) -> None:
    edge_index, edge_weight = make_graph()
    model = encoder(cls, num_layers=0)
    users, items = model(edge_index, edge_weight)
    table = model.embedding.weight
    assert torch.equal(users, table[:NUM_USERS]) and torch.equal(items, table[NUM_USERS:])
    assert sum(p.numel() for p in model.parameters()) == NUM_NODES * DIM


@pytest.mark.parametrize("cls", PYG_CLASSES)
def test_gradients_reach_every_trainable_table(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    model = encoder(cls)
    users, items = model(edge_index, edge_weight)
    (users.pow(2).sum() + items.pow(2).sum()).backward()
    grad = model.embedding.weight.grad
    assert grad is not None and torch.isfinite(grad).all()
    connected = torch.ones(NUM_NODES, dtype=torch.bool)
    connected[[ISOLATED_USER, NUM_NODES - 1]] = False
    assert (grad[connected].abs().sum(dim=1) > 0).all()
    for name, param in model.named_parameters():
        assert param.grad is not None, name


def test_lightgcn_backward_and_edge_weight_gradient_match_autograd() -> None:
    """The hand-written backward of the cached sparse product equals the finite differences."""
    edge_index, edge_weight = make_graph()
    pattern = SparsePattern.from_edge_index(edge_index, NUM_NODES)
    # Random values make A non-symmetric, so using A instead of A^T in backward would fail.
    values = torch.rand(pattern.nnz, dtype=torch.double, requires_grad=True)  # [nnz]
    x = torch.randn(NUM_NODES, 3, dtype=torch.double, requires_grad=True)  # [N, 3]
    assert torch.autograd.gradcheck(pattern.matmul, (values, x), fast_mode=True)
    # A learnable edge weight (an attacked graph) gets a gradient through the whole encoder.
    weight = edge_weight.clone().requires_grad_()
    users, items = encoder(LightGCNEncoder)(edge_index, weight)
    (users.sum() + items.pow(2).sum()).backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_lightgcn_caches_the_graph_and_notices_in_place_edits() -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    model = encoder(LightGCNEncoder)
    first = torch.cat(model(edge_index, edge_weight))
    pattern = model._structure_cache._value
    torch.testing.assert_close(torch.cat(model(edge_index, edge_weight)), first)
    assert model._structure_cache._value is pattern  # no rebuild for the same tensors
    edge_weight.mul_(0.5)  # in place: the version counter moves, the cache must rebuild
    halved = torch.cat(model(edge_index, edge_weight))
    # Scaling every weight leaves D^-1/2 A D^-1/2 unchanged; a wrong cache would too, so compare
    # with a fresh, differently weighted graph as well.
    torch.testing.assert_close(halved, first)
    edge_weight[: edge_weight.numel() // 2].mul_(4.0)
    assert not torch.allclose(torch.cat(model(edge_index, edge_weight)), first)


def test_lightgcn_edge_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    model = encoder(LightGCNEncoder, dropout=0.5)
    plain = encoder(LightGCNEncoder)
    plain.load_state_dict(model.state_dict())
    model.eval()
    torch.testing.assert_close(model(edge_index)[1], plain(edge_index)[1])
    model.train()
    assert not torch.allclose(model(edge_index)[1], plain(edge_index)[1])


def test_sage_first_layer_is_pyg_mean_sageconv_and_weighted_mean_by_hand() -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    model = encoder(SAGEEncoder, num_layers=1)
    reference = SAGEConv(DIM, DIM, aggr="mean")
    reference.load_state_dict(model.convs[0].state_dict())
    x = model.embedding.weight
    torch.testing.assert_close(torch.cat(model(edge_index)), reference(x, edge_index))
    adjacency = dense_adjacency(edge_index, edge_weight)  # [N, N]
    total = adjacency.sum(dim=1, keepdim=True).clamp(min=1e-12)  # [N, 1]
    aggregated = (adjacency / total) @ x.detach()  # weighted mean of in-neighbours
    conv = model.convs[0]
    expected = conv.lin_l(aggregated) + conv.lin_r(x.detach())
    torch.testing.assert_close(torch.cat(model(edge_index, edge_weight)), expected)


def test_gat_reads_edge_weights_as_edge_features() -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph()
    model = encoder(GATEncoder, heads=2)
    without = torch.cat(model(edge_index))
    assert not torch.allclose(torch.cat(model(edge_index, edge_weight)), without)
    assert not torch.allclose(torch.cat(model(edge_index, 1.0 - edge_weight)), without)


@pytest.mark.parametrize("cls", PYG_CLASSES)
def test_deterministic_under_a_seed(cls: type[nn.Module]) -> None:
    edge_index, edge_weight = make_graph()
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        outputs.append(torch.cat(encoder(cls)(edge_index, edge_weight)))
    assert torch.equal(outputs[0], outputs[1])
    torch.manual_seed(8)
    assert not torch.allclose(torch.cat(encoder(cls)(edge_index, edge_weight)), outputs[0])


@pytest.mark.parametrize("cls", PYG_CLASSES)
def test_reset_parameters_and_repr(cls: type[nn.Module]) -> None:
    model = encoder(cls)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_parameters()
    assert not torch.equal(before["embedding.weight"], model.embedding.weight)
    assert model.embedding.weight.std().item() == pytest.approx(0.1, rel=0.2)
    text = repr(model)
    assert text.startswith(cls.__name__) and f"num_users={NUM_USERS}" in text
    assert "\n" not in text


@pytest.mark.parametrize("cls", PYG_CLASSES)
def test_bad_graphs_raise_value_errors(cls: type[nn.Module]) -> None:
    edge_index, edge_weight = make_graph()
    model = encoder(cls)
    too_far = edge_index.clone()
    too_far[1, 0] = NUM_NODES  # one past the last item: an offset bug
    with pytest.raises(ValueError, match="outside 0..13"):
        model(too_far)
    with pytest.raises(ValueError, match="non-negative"):
        model(edge_index, -edge_weight)
    with pytest.raises(ValueError, match=r"shape \[E\]"):
        model(edge_index, edge_weight[:-1])
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        model(edge_index[0])


def test_bad_constructor_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="num_items must be >= 1, got 0"):
        LightGCNEncoder(num_users=3, num_items=0)
    with pytest.raises(ValueError, match="num_layers must be >= 0, got -1"):
        SAGEEncoder(num_users=3, num_items=3, num_layers=-1)
    with pytest.raises(ValueError, match="dropout"):
        GATEncoder(num_users=3, num_items=3, dropout=1.0)
    with pytest.raises(ValueError, match="divide embedding_dim=64, got 3"):
        GATEncoder(num_users=3, num_items=3, heads=3)


def test_build_encoder_names_backends_and_errors() -> None:
    kwargs = dict(num_users=NUM_USERS, num_items=NUM_ITEMS, embedding_dim=DIM, num_layers=1)
    assert type(build_encoder("lightgcn", "pyg", **kwargs)) is LightGCNEncoder
    assert type(build_encoder("SAGE", "pyg", **kwargs)) is SAGEEncoder
    gat = build_encoder("gat", "pyg", dropout=0.3, **kwargs)
    assert type(gat) is GATEncoder and gat.dropout == 0.3
    with pytest.raises(ValueError, match="expected one of \\('lightgcn', 'sage', 'gat'\\)"):
        build_encoder("ngcf", "pyg", **kwargs)
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        build_encoder("sage", "jax", **kwargs)
    with pytest.raises(ValueError, match="lightgcn\\+dgl, sage\\+pyg, sage\\+dgl, gat\\+pyg"):
        build_encoder("gat", "dgl", **kwargs)


def test_dgl_is_imported_only_through_the_compat_shim() -> None:
    """``import graphrec.models.encoders`` must work without DGL: no module imports it directly."""
    package = Path(encoders.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "dgl" or n.startswith("dgl.") for n in names), path.name


@needs_dgl
@pytest.mark.parametrize(
    ("pyg_cls", "dgl_cls"), [(LightGCNEncoder, DGLLightGCNEncoder), (SAGEEncoder, DGLSAGEEncoder)]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_pyg_and_dgl_agree_on_outputs_and_gradients(
    pyg_cls: type[nn.Module], dgl_cls: type[nn.Module], weighted: bool
) -> None:
    torch.manual_seed(0)
    edge_index, edge_weight = make_graph(seed=3, num_ratings=30)
    weight = edge_weight if weighted else None
    pyg_model, dgl_model = encoder(pyg_cls, num_layers=3), encoder(dgl_cls, num_layers=3)
    assert [(k, v.shape) for k, v in pyg_model.state_dict().items()] == [
        (k, v.shape) for k, v in dgl_model.state_dict().items()
    ]
    dgl_model.load_state_dict(pyg_model.state_dict())
    grads = []
    outputs = []
    for model in (pyg_model, dgl_model):
        users, items = model(edge_index, weight)
        (users.pow(2).sum() + items.sin().sum()).backward()
        outputs.append(torch.cat([users, items]))
        grads.append({k: p.grad for k, p in model.named_parameters()})
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=0)


@needs_dgl
def test_dgl_builds_through_the_factory_and_round_trips_weights() -> None:
    kwargs = dict(num_users=NUM_USERS, num_items=NUM_ITEMS, embedding_dim=DIM, num_layers=2)
    edge_index, edge_weight = make_graph()
    for name, cls in (("lightgcn", DGLLightGCNEncoder), ("sage", DGLSAGEEncoder)):
        dgl_model = build_encoder(name, "dgl", **kwargs)
        assert type(dgl_model) is cls and repr(dgl_model).startswith(cls.__name__)
        pyg_model = build_encoder(name, "pyg", **kwargs)
        pyg_model.load_state_dict(dgl_model.state_dict())
        torch.testing.assert_close(
            torch.cat(pyg_model(edge_index, edge_weight)),
            torch.cat(dgl_model(edge_index, edge_weight)),
            atol=1e-5,
            rtol=0,
        )
