"""GraphSAGE encoder on the DGL backend: the twin of :class:`SAGEEncoder`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphrec.graph.dgl_compat import import_dgl
from graphrec.models.encoders.dgl_base import DGLEncoder
from graphrec.models.encoders.propagation import check_graph
from graphrec.models.encoders.sage import SAGEEncoder


class DGLSAGEConv(nn.Module):
    r"""One GraphSAGE layer with PyG's ``SAGEConv`` semantics and parameter names, in DGL.

    ``h'_v = lin_l(agg_v) + lin_r(h_v)`` with ``lin_l`` biased and ``lin_r`` not, exactly PyG's
    layout (DGL's own ``SAGEConv`` names them ``fc_neigh``/``fc_self`` and puts the bias apart), so
    state dicts move between backends. ``agg_v`` is DGL's ``copy_u``/``mean`` without edge weights
    and ``u_mul_e``/``sum`` with the per-edge weights ``w_uv / sum_u w_uv`` otherwise (a weighted
    mean); nodes with no in-neighbours aggregate to 0, as in PyG.

    Shapes:
        h ``[N, d_in]``, mean_weight ``[E]`` or None -> ``[N, d_out]``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin_l = nn.Linear(in_channels, out_channels, bias=True)
        self.lin_r = nn.Linear(in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        """Kaiming-uniform weights, as ``torch.nn.Linear`` and PyG's ``Linear`` both draw them."""
        self.lin_l.reset_parameters()
        self.lin_r.reset_parameters()

    def forward(self, graph: Any, h: Tensor, mean_weight: Tensor | None = None) -> Tensor:
        """One layer over ``graph``; ``mean_weight`` from :meth:`DGLSAGEEncoder._mean_weight`."""
        fn = import_dgl().function
        with graph.local_scope():
            graph.ndata["h"] = h  # [N, d_in]
            if mean_weight is None:
                graph.update_all(fn.copy_u("h", "m"), fn.mean("m", "agg"))
            else:
                graph.edata["a"] = mean_weight.unsqueeze(-1)  # [E, 1]
                graph.update_all(fn.u_mul_e("h", "a", "m"), fn.sum("m", "agg"))
            aggregated = graph.ndata["agg"]  # [N, d_in]
        return self.lin_l(aggregated) + self.lin_r(h)  # [N, d_out]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr=mean)"


class DGLSAGEEncoder(DGLEncoder, SAGEEncoder):
    r"""GraphSAGE (Hamilton et al., NeurIPS 2017) computed with DGL message passing.

    Same constructor, parameter names and shapes (``embedding.weight``,
    ``convs.{i}.lin_l.weight``, ``convs.{i}.lin_l.bias``, ``convs.{i}.lin_r.weight``), layer
    stack (ReLU + dropout between layers) and outputs as
    :class:`~graphrec.models.encoders.sage.SAGEEncoder`; only the aggregation runs in DGL (see
    :class:`DGLSAGEConv`). The ``dgl.graph`` is cached per ``edge_index`` tensor and DGL is
    imported on first use only.

    Args:
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: embedding and hidden size ``d`` (default 64).
        num_layers: SAGE layers (default 2); 0 = the input embedding table itself.
        dropout: feature dropout between layers (default 0.0).

    Shapes:
        edge_index ``[2, E]``, edge_weight ``[E]`` or None -> ``[U, d]``, ``[I, d]``.
    """

    def _make_convs(self) -> list[nn.Module]:
        d = self.embedding_dim
        return [DGLSAGEConv(d, d) for _ in range(self.num_layers)]

    def forward(
        self, edge_index: Tensor, edge_weight: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User and item embeddings after ``num_layers`` SAGE layers."""
        h = self.embedding.weight  # [N, d]
        if self.num_layers > 0:
            graph = self._dgl_graph(edge_index)
            mean_weight = self._values_cache.get(
                (edge_index, edge_weight),
                lambda: self._mean_weight(graph, edge_index, edge_weight),
            )  # [E] or None
            for i, conv in enumerate(self.convs):
                h = conv(graph, h, mean_weight)  # [N, d]
                if i < self.num_layers - 1:
                    h = F.dropout(F.relu(h), p=self.dropout, training=self.training)  # [N, d]
        return self.split(h)

    def _mean_weight(
        self, graph: Any, edge_index: Tensor, edge_weight: Tensor | None
    ) -> Tensor | None:
        """Per-edge ``w_uv / sum_u w_uv`` (weighted mean), or None for DGL's plain mean."""
        check_graph(edge_index, edge_weight, self.num_nodes)
        if edge_weight is None:
            return None
        fn = import_dgl().function
        with graph.local_scope():
            graph.edata["w"] = edge_weight.to(self.embedding.weight.dtype)  # [E]
            graph.update_all(fn.copy_e("w", "m"), fn.sum("m", "total"))
            total = graph.ndata["total"]  # [N]
            graph.ndata["total"] = torch.where(total > 0, total, torch.ones_like(total))  # [N]
            graph.apply_edges(fn.e_div_v("w", "total", "a"))
            return graph.edata["a"]  # [E]
