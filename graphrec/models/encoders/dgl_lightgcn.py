"""LightGCN encoder on the DGL backend: the twin of :class:`LightGCNEncoder`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphrec.graph.dgl_compat import import_dgl
from graphrec.models.encoders.dgl_base import DGLEncoder
from graphrec.models.encoders.lightgcn import LightGCNEncoder
from graphrec.models.encoders.propagation import check_graph


class DGLLightGCNEncoder(DGLEncoder, LightGCNEncoder):
    r"""LightGCN (He et al., SIGIR 2020) computed with DGL message passing.

    Same constructor, parameters (``embedding.weight``), initialisation and outputs as
    :class:`~graphrec.models.encoders.lightgcn.LightGCNEncoder`, so a state dict moves between the
    backends unchanged. The weighted degrees, the ``D^-1/2 A D^-1/2`` edge weights and each layer
    are computed here independently, with DGL built-ins (``copy_e``/``sum`` for degrees,
    ``u_mul_v`` for the normalisation, ``u_mul_e``/``sum`` for a layer), so agreement with the PyG
    version is a real check of both. Edge dropout draws its own mask, so only eval-mode outputs
    (or ``dropout=0``) match across backends.

    The ``dgl.graph`` and its normalised edge weights are cached per ``edge_index``/``edge_weight``
    tensor; DGL is imported on first use only, so ``graphrec.models.encoders`` imports without it.

    Args:
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: embedding size ``d`` (default 64).
        num_layers: propagation layers ``K`` (default 2); 0 = no propagation.
        dropout: edge dropout probability in training (default 0.0).

    Shapes:
        edge_index ``[2, E]``, edge_weight ``[E]`` or None -> ``[U, d]``, ``[I, d]``.
    """

    def forward(
        self, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User and item embeddings after ``num_layers`` of propagation."""
        x = self.embedding.weight  # [N, d]
        if self.num_layers == 0:
            return self.split(x)
        fn = import_dgl().function
        graph = self._dgl_graph(edge_index)
        norm = self._values_cache.get(
            (edge_index, edge_weight), lambda: self._edge_norm(graph, edge_index, edge_weight)
        )  # [E]
        norm = F.dropout(norm.to(x.dtype), p=self.dropout, training=self.training)  # [E]
        layers = [x]
        h = x
        with graph.local_scope():
            graph.edata["a"] = norm.unsqueeze(-1)  # [E, 1]
            for _ in range(self.num_layers):
                graph.ndata["h"] = h
                graph.update_all(fn.u_mul_e("h", "a", "m"), fn.sum("m", "h"))
                h = graph.ndata["h"]  # [N, d]
                layers.append(h)
        out = torch.stack(layers).mean(dim=0)  # [N, d]
        return self.split(out)

    def _edge_norm(self, graph: Any, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        """Per-edge ``w_uv / sqrt(d_u d_v)`` with weighted in-degrees, via DGL built-ins."""
        check_graph(edge_index, edge_weight, self.num_nodes)
        fn = import_dgl().function
        dtype = self.embedding.weight.dtype
        weight = (
            torch.ones(graph.num_edges(), device=edge_index.device, dtype=dtype)
            if edge_weight is None
            else edge_weight.to(dtype)
        )  # [E]
        with graph.local_scope():
            graph.edata["w"] = weight
            graph.update_all(fn.copy_e("w", "m"), fn.sum("m", "deg"))
            degree = graph.ndata["deg"]  # [N]
            inv_sqrt = torch.where(
                degree > 0, degree.clamp(min=1e-12).rsqrt(), torch.zeros_like(degree)
            )  # [N]; degree 0 -> 0, never inf
            graph.ndata["inv_sqrt"] = inv_sqrt
            graph.apply_edges(fn.u_mul_v("inv_sqrt", "inv_sqrt", "scale"))
            return graph.edata["scale"] * weight  # [E]
