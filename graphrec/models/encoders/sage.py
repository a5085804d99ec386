"""GraphSAGE encoder (PyG backend) over the flattened user-item graph."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv

from graphrec.models.encoders.base import EmbeddingEncoder
from graphrec.models.encoders.propagation import check_graph, mean_norm


class SAGEEncoder(EmbeddingEncoder):
    r"""GraphSAGE with the mean aggregator (Hamilton et al., "Inductive Representation Learning on
    Large Graphs", NeurIPS 2017) on learnable user and item input embeddings.

    Each layer is PyG's ``SAGEConv``: ``h'_v = W_l mean_{u -> v} h_u + W_r h_v + b`` (``lin_l`` on
    the aggregated neighbours, ``lin_r`` on the node itself: the root weight keeps a node's own
    signal apart from its neighbours', which LightGCN mixes). ReLU and dropout go between layers,
    not after the last, so the output is a free linear embedding space for dot-product scoring.

    ``edge_weight`` turns the mean into a weighted mean, ``sum_u w_uv h_u / sum_u w_uv``, so a
    5-star neighbour counts more than a 1-star one; without weights it is PyG's plain mean. Both are
    computed by ``SAGEConv(aggr="sum")`` over a cached row-normalised sparse adjacency, which equals
    ``SAGEConv(aggr="mean")`` on ``edge_index`` for unweighted graphs.

    Args:
        num_users: number of users ``U`` (flattened node ids ``0..U-1``).
        num_items: number of items ``I`` (flattened node ids ``U..U+I-1``).
        embedding_dim: embedding and hidden size ``d`` (default 64).
        num_layers: SAGE layers (default 2); 0 = the input embedding table itself.
        dropout: feature dropout between layers (default 0.0).

    Shapes:
        edge_index ``[2, E]`` (both directions present), edge_weight ``[E]`` or None
        -> user embeddings ``[U, d]``, item embeddings ``[I, d]``.
    """

    def _make_convs(self) -> list[nn.Module]:
        # Parameters: lin_l (weight, bias) and lin_r (weight); the DGL twin mirrors these names.
        d = self.embedding_dim
        return [SAGEConv(d, d, aggr="sum") for _ in range(self.num_layers)]

    def forward(
        self, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User and item embeddings after ``num_layers`` SAGE layers (see class docstring)."""
        h = self.embedding.weight  # [N, d]
        if self.num_layers > 0:
            adj = self._adjacency(edge_index, edge_weight)  # [N, N] sparse CSR, rows = dst
            for i, conv in enumerate(self.convs):
                h = conv(h, adj)  # [N, d]
                if i < self.num_layers - 1:
                    h = F.dropout(F.relu(h), p=self.dropout, training=self.training)  # [N, d]
        return self.split(h)

    def _adjacency(self, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        num_nodes, dtype = self.num_nodes, self.embedding.weight.dtype
        pattern = self._sparse_pattern(edge_index)

        def build_adj() -> Tensor:
            check_graph(edge_index, edge_weight, num_nodes)
            weight = None if edge_weight is None else edge_weight.to(dtype)  # [E] (ints ok)
            norm = mean_norm(edge_index, weight, num_nodes)  # [E]
            return pattern.to_csr(pattern.entry_values(norm))  # [N, N]

        return self._values_cache.get((edge_index, edge_weight), build_adj)
