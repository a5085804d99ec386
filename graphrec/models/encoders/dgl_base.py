"""What the DGL twins share: the DGL import check and the cached ``dgl.graph``."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from graphrec.graph.dgl_compat import import_dgl
from graphrec.models.encoders.base import EmbeddingEncoder
from graphrec.models.encoders.propagation import check_graph


class DGLEncoder(EmbeddingEncoder):
    """Base of the DGL twins, listed first: ``class DGLSAGEEncoder(DGLEncoder, SAGEEncoder)``.

    The twin keeps the PyG class's constructor, parameters and initialisation and swaps only the
    message passing; this adds what every DGL forward needs first. DGL is imported on first use
    only, so ``graphrec.models.encoders`` imports without it.
    """

    def _check_backend(self) -> None:
        import_dgl()  # fail at construction, with the install hint, rather than mid-training

    def _dgl_graph(self, edge_index: Tensor) -> Any:
        """``dgl.graph`` with the edges ``edge_index[0] -> edge_index[1]``, cached per tensor."""
        num_nodes = self.num_nodes

        def build() -> Any:
            check_graph(edge_index, None, num_nodes)
            src, dst = edge_index[0].long(), edge_index[1].long()  # [E], [E]
            return import_dgl().graph((src, dst), num_nodes=num_nodes)

        return self._structure_cache.get((edge_index,), build)
