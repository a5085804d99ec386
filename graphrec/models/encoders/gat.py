"""GAT encoder (PyG backend) over the flattened user-item graph."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv

from graphrec.models.encoders.base import EmbeddingEncoder
from graphrec.models.encoders.propagation import check_graph


class GATEncoder(EmbeddingEncoder):
    r"""Graph attention network (Veličković et al., "Graph Attention Networks", ICLR 2018) on
    learnable user and item input embeddings.

    Each layer is PyG's ``GATConv`` with ``heads`` attention heads of ``d / heads`` features each,
    concatenated (the paper's hidden layers: 8 heads x 8 features), so every layer maps ``d -> d``
    and costs what one ``d``-wide head does; averaging ``heads`` full-width heads
    (``concat=False``) would materialise ``heads`` times more per-edge messages, ~4x slower on
    ML-100K for the same output size. Self-loops are added so a node attends to itself as well as
    its neighbours (and an isolated node keeps its own signal).
    ELU and dropout go between layers, as in the paper; ``dropout`` is also applied to the
    normalised attention coefficients (the paper drops both).

    ``edge_weight`` (e.g. rating / 5) enters the attention score as a 1-d edge feature
    (``edge_dim=1``: ``a^T [W h_i || W h_j || W_e w_ij]``), so the layer learns how much a rating
    should matter instead of being told; self-loops get the mean incoming weight. Without
    ``edge_weight`` the edge term is simply absent (its parameters then get no gradient).

    Args:
        num_users: number of users ``U`` (flattened node ids ``0..U-1``).
        num_items: number of items ``I`` (flattened node ids ``U..U+I-1``).
        embedding_dim: embedding and hidden size ``d`` (default 64).
        num_layers: GAT layers (default 2); 0 = the input embedding table itself.
        dropout: feature and attention dropout (default 0.0).
        heads: attention heads per layer, concatenated; must divide ``embedding_dim``
            (default 4).

    Shapes:
        edge_index ``[2, E]`` (both directions present), edge_weight ``[E]`` or None
        -> user embeddings ``[U, d]``, item embeddings ``[I, d]``.
    """

    _repr_fields = (*EmbeddingEncoder._repr_fields, "heads")

    def __init__(
        self,
        *,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        heads: int = 4,
    ) -> None:
        if heads < 1 or embedding_dim % heads != 0:
            raise ValueError(
                f"heads must be >= 1 and divide embedding_dim={embedding_dim}, got {heads}"
            )
        self.heads = heads  # set first: the base constructor builds the layers from it
        super().__init__(
            num_users=num_users,
            num_items=num_items,
            embedding_dim=embedding_dim,
            num_layers=num_layers,
            dropout=dropout,
        )

    def _make_convs(self) -> list[nn.Module]:
        d = self.embedding_dim
        return [
            GATConv(
                d,
                d // self.heads,
                heads=self.heads,
                concat=True,
                dropout=self.dropout,
                edge_dim=1,
                add_self_loops=True,
                fill_value="mean",
            )
            for _ in range(self.num_layers)
        ]

    def forward(
        self, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User and item embeddings after ``num_layers`` GAT layers (see class docstring)."""
        h = self.embedding.weight  # [N, d]
        if self.num_layers > 0:
            self._check(edge_index, edge_weight)
            edge_attr = None if edge_weight is None else edge_weight.to(h.dtype)[:, None]  # [E, 1]
            for i, conv in enumerate(self.convs):
                h = conv(h, edge_index, edge_attr)  # [N, d]
                if i < self.num_layers - 1:
                    h = F.dropout(F.elu(h), p=self.dropout, training=self.training)  # [N, d]
        return self.split(h)

    def _check(self, edge_index: Tensor, edge_weight: Tensor | None) -> None:
        # GATConv gathers by index without bounds checks: validate each new graph tensor once.
        num_nodes = self.num_nodes
        self._values_cache.get(
            (edge_index, edge_weight), lambda: check_graph(edge_index, edge_weight, num_nodes)
        )
