"""LightGCN encoder (PyG backend) over the flattened user-item graph."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.models.encoders.base import EmbeddingEncoder
from graphrec.models.encoders.propagation import SparsePattern, check_graph, symmetric_norm


class LightGCNEncoder(EmbeddingEncoder):
    r"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation", SIGIR 2020).

    The paper shows that NGCF's feature transforms and nonlinearities only hurt collaborative
    filtering, so the only parameters are the ego embeddings ``E^(0)`` of all users and items; each
    layer is a parameter-free neighbourhood average ``E^(k+1) = D^-1/2 A D^-1/2 E^(k)`` and the
    output is the mean of the layers, ``(E^(0) + ... + E^(K)) / (K + 1)`` (the paper's
    ``alpha_k = 1 / (K + 1)``), which also counters over-smoothing. With ``edge_weight`` (e.g.
    rating / 5) ``A`` holds the weights and ``D`` the weighted degrees, as PyG's ``LGConv``.

    ``num_layers=0`` is exactly the plain embedding table: matrix factorisation, the "no graph"
    ablation. ``dropout`` is edge dropout on the normalised adjacency during training, rescaled by
    ``1 / (1 - p)`` as the authors' code does (the paper itself trains without it).

    The normalised adjacency is built once per ``edge_index``/``edge_weight`` tensor pair and
    cached (see :class:`~graphrec.models.encoders.propagation.GraphCache`), so pass the same tensors
    on every step. The result equals ``K`` stacked ``LGConv`` layers; a sparse-dense product with a
    cached transpose is used instead because it is several times faster on CPU.

    Args:
        num_users: number of users ``U`` (flattened node ids ``0..U-1``).
        num_items: number of items ``I`` (flattened node ids ``U..U+I-1``).
        embedding_dim: embedding size ``d`` (default 64, the paper's).
        num_layers: propagation layers ``K`` (default 2); 0 = no propagation.
        dropout: edge dropout probability in training (default 0.0).

    Shapes:
        edge_index ``[2, E]`` (both directions present), edge_weight ``[E]`` or None
        -> user embeddings ``[U, d]``, item embeddings ``[I, d]``.
    """

    def forward(
        self, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User and item embeddings after ``num_layers`` of propagation (see class docstring)."""
        x = self.embedding.weight  # [N, d]
        if self.num_layers == 0:
            return self.split(x)
        pattern, values, values_t = self._adjacency(edge_index, edge_weight)  # [nnz] each
        values, values_t = values.to(x.dtype), values_t.to(x.dtype)  # no-op unless .double()
        if self.training and self.dropout > 0:
            values = F.dropout(values, p=self.dropout)  # [nnz] one edge mask for all layers
            values_t = pattern.transpose_values(values)  # [nnz] the same mask, transposed
        layers = [x]
        h = x
        for _ in range(self.num_layers):
            h = pattern.matmul(values, h, values_t)  # [N, d]
            layers.append(h)
        out = torch.stack(layers).mean(dim=0)  # [N, d]
        return self.split(out)

    def _adjacency(
        self, edge_index: Tensor, edge_weight: Tensor | None
    ) -> tuple[SparsePattern, Tensor, Tensor]:
        num_nodes, dtype = self.num_nodes, self.embedding.weight.dtype
        pattern = self._sparse_pattern(edge_index)

        def build_values() -> tuple[Tensor, Tensor]:
            check_graph(edge_index, edge_weight, num_nodes)
            weight = None if edge_weight is None else edge_weight.to(dtype)  # [E] (ints ok)
            norm = symmetric_norm(edge_index, weight, num_nodes)  # [E]
            values = pattern.entry_values(norm)  # [nnz]
            return values, pattern.transpose_values(values.detach())  # [nnz], [nnz]

        values, values_t = self._values_cache.get((edge_index, edge_weight), build_values)
        return pattern, values, values_t
