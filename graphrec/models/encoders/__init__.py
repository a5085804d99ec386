"""GNN encoders over the flattened user-item graph, and the one factory that picks them.

Every encoder takes plain tensors, ``forward(edge_index, edge_weight=None) -> (user_emb [U, d],
item_emb [I, d])``, with users at node ids ``0..U-1`` and items at ``U..U+I-1``
(:func:`graphrec.graph.schema.item_node_index`). The DGL twins import DGL lazily, so this package
imports without it.
"""

from __future__ import annotations

from graphrec.models.encoders.base import EmbeddingEncoder
from graphrec.models.encoders.dgl_lightgcn import DGLLightGCNEncoder
from graphrec.models.encoders.dgl_sage import DGLSAGEConv, DGLSAGEEncoder
from graphrec.models.encoders.gat import GATEncoder
from graphrec.models.encoders.lightgcn import LightGCNEncoder
from graphrec.models.encoders.sage import SAGEEncoder

ENCODER_NAMES = ("lightgcn", "sage", "gat")
BACKENDS = ("pyg", "dgl")

_ENCODERS: dict[tuple[str, str], type[EmbeddingEncoder]] = {
    ("lightgcn", "pyg"): LightGCNEncoder,
    ("lightgcn", "dgl"): DGLLightGCNEncoder,
    ("sage", "pyg"): SAGEEncoder,
    ("sage", "dgl"): DGLSAGEEncoder,
    ("gat", "pyg"): GATEncoder,
}


def build_encoder(
    name: str,
    backend: str,
    *,
    num_users: int,
    num_items: int,
    embedding_dim: int,
    num_layers: int,
    dropout: float = 0.0,
) -> EmbeddingEncoder:
    """A freshly initialised encoder by name and backend.

    Args:
        name: ``lightgcn`` (He et al., 2020), ``sage`` (Hamilton et al., 2017) or ``gat``
            (Veličković et al., 2018); case-insensitive.
        backend: ``pyg`` or ``dgl`` (``gat`` exists for ``pyg`` only).
        num_users: number of users ``U``.
        num_items: number of items ``I``.
        embedding_dim: embedding size ``d``.
        num_layers: message-passing layers (0 = the plain embedding table).
        dropout: edge dropout for LightGCN, feature (and attention) dropout for SAGE and GAT
            (default 0.0).

    Raises:
        ValueError: an unknown name or backend, or a combination that does not exist.
    """
    key = (name.lower(), backend.lower())
    if key[0] not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; expected one of {ENCODER_NAMES}")
    if key[1] not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if key not in _ENCODERS:
        combos = ", ".join(f"{n}+{b}" for n, b in _ENCODERS)
        raise ValueError(
            f"encoder {name!r} has no {backend!r} backend; available combinations: {combos}"
        )
    return _ENCODERS[key](
        num_users=num_users,
        num_items=num_items,
        embedding_dim=embedding_dim,
        num_layers=num_layers,
        dropout=dropout,
    )


__all__ = [
    "BACKENDS",
    "DGLLightGCNEncoder",
    "DGLSAGEConv",
    "DGLSAGEEncoder",
    "ENCODER_NAMES",
    "EmbeddingEncoder",
    "GATEncoder",
    "LightGCNEncoder",
    "SAGEEncoder",
    "build_encoder",
]
