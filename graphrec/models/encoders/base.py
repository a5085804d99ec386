"""The base every encoder subclasses: learnable user and item embeddings on the flattened graph."""

from __future__ import annotations

from torch import Tensor, nn

from graphrec.models.encoders.propagation import (
    GraphCache,
    SparsePattern,
    check_encoder_args,
    check_graph,
)

INIT_STD = 0.1  # normal(0, 0.1) initialisation, as the authors' PyTorch code (LightGCN-PyTorch)


class EmbeddingEncoder(nn.Module):
    r"""One embedding table ``[U + I, d]`` over the flattened user-item graph, and the encoder API.

    Every encoder (and its DGL twin) starts from the same checked arguments, the same table
    (``embedding.weight``, so state dicts move between backends) drawn from ``normal(0, 0.1)``,
    and returns ``(user_emb, item_emb)`` split at ``num_users``; keeping that here means the
    encoders cannot drift apart. Subclasses give their layers' modules through :meth:`_make_convs`
    (built between the table and :meth:`reset_parameters`, a fixed random-draw order, so a seed
    always gives the same weights) and implement ``forward``.

    Two graph caches are kept for the subclasses: ``_structure_cache`` for what depends on
    ``edge_index`` alone (a CSR pattern, a ``dgl.graph``) and ``_values_cache`` for what also
    depends on ``edge_weight`` (normalised edge values).

    Args:
        num_users: number of users ``U`` (flattened node ids ``0..U-1``).
        num_items: number of items ``I`` (flattened node ids ``U..U+I-1``).
        embedding_dim: embedding size ``d`` (default 64).
        num_layers: message-passing layers (default 2); 0 = the embedding table itself.
        dropout: dropout probability in training, as each encoder applies it (default 0.0).

    Shapes:
        edge_index ``[2, E]`` (both directions present), edge_weight ``[E]`` or None
        -> user embeddings ``[U, d]``, item embeddings ``[I, d]``.
    """

    _repr_fields: tuple[str, ...] = (
        "num_users",
        "num_items",
        "embedding_dim",
        "num_layers",
        "dropout",
    )

    def __init__(
        self,
        *,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        self._check_backend()
        super().__init__()
        check_encoder_args(
            num_users=num_users,
            num_items=num_items,
            embedding_dim=embedding_dim,
            num_layers=num_layers,
            dropout=dropout,
        )
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)  # [U + I, d]
        self.convs = nn.ModuleList(self._make_convs())
        self._structure_cache = GraphCache()
        self._values_cache = GraphCache()
        self.reset_parameters()

    def _check_backend(self) -> None:
        """Fail at construction, not mid-training, when the backend is missing (DGL twins)."""

    def _make_convs(self) -> list[nn.Module]:
        """The layers' modules; none by default (LightGCN's layers have no weights)."""
        return []

    @property
    def num_nodes(self) -> int:
        """Nodes in the flattened graph, ``U + I``."""
        return self.num_users + self.num_items

    def reset_parameters(self) -> None:
        """Re-draw the input embeddings (``normal(0, 0.1)``) and every layer's weights."""
        nn.init.normal_(self.embedding.weight, std=INIT_STD)
        for conv in self.convs:
            conv.reset_parameters()

    def split(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Node embeddings ``[U + I, d]`` -> user ``[U, d]`` and item ``[I, d]`` embeddings."""
        return h[: self.num_users], h[self.num_users :]

    def _sparse_pattern(self, edge_index: Tensor) -> SparsePattern:
        """The cached CSR pattern of ``edge_index`` (checked once per new tensor)."""
        num_nodes = self.num_nodes

        def build() -> SparsePattern:
            check_graph(edge_index, None, num_nodes)
            return SparsePattern.from_edge_index(edge_index, num_nodes)

        return self._structure_cache.get((edge_index,), build)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)}" for name in self._repr_fields)
        return f"{self.__class__.__name__}({fields})"
