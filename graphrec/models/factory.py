"""Build any recommender of the comparison from plain arguments, and rebuild it from a checkpoint.

A checkpoint stores :class:`ModelSpec` (the constructor arguments), so evaluation, the oracle and
the attack can rebuild the exact model without the config that trained it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from torch import nn

from graphrec.models.baselines.lightgcn_bpr import LightGCNBPR
from graphrec.models.baselines.most_popular import MostPopular
from graphrec.models.baselines.simple_sequential import SimpleSequentialRecommender
from graphrec.models.encoders import EmbeddingEncoder, build_encoder
from graphrec.models.heads import build_head
from graphrec.models.recommender import GraphSequentialRecommender

MODEL_NAMES = ("graphrec", "lightgcn_bpr", "simple", "popular")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to construct a recommender (weights come from a state dict).

    Attributes mirror ``ModelConfig`` plus the data's sizes; ``simple`` ignores the graph fields,
    ``popular`` everything but the sizes.
    """

    name: str
    num_users: int
    num_items: int
    max_len: int
    encoder: str = "lightgcn"
    backend: str = "pyg"
    head: str = "sasrec"
    embedding_dim: int = 64
    num_layers: int = 2
    num_blocks: int = 2
    num_heads: int = 2
    dropout: float = 0.2
    fuse_user: bool = True
    bpr_weight: float = 0.1
    loss: str = "full"
    negatives: int = 1024
    gbce_t: float = 0.75
    sample_power: float = 0.75
    item_transitions: bool = False
    align_weight: float = 0.0
    align_temperature: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def uses_graph(self) -> bool:
        return self.name in ("graphrec", "lightgcn_bpr")

    @property
    def label(self) -> str:
        """A short model label for run names and tables, e.g. ``graphrec-lightgcn-sasrec``."""
        if self.name == "graphrec":
            return f"graphrec-{self.encoder}-{self.head}"
        return self.name


def build_model(spec: ModelSpec, train_counts: np.ndarray | None = None) -> nn.Module:
    """A freshly initialised recommender (the graph is attached by the caller).

    Args:
        spec: constructor arguments.
        train_counts: training events per item; required by ``popular`` (zeros are fine when a
            state dict with the counts will be loaded next).
    """
    if spec.name == "graphrec":
        return build_graph_recommender(spec)
    if spec.name == "lightgcn_bpr":
        encoder = _build_encoder(spec)
        return LightGCNBPR(encoder=encoder, num_users=spec.num_users, num_items=spec.num_items)
    if spec.name == "simple":
        return SimpleSequentialRecommender(num_items=spec.num_items)
    if spec.name == "popular":
        counts = np.zeros(spec.num_items) if train_counts is None else train_counts
        return MostPopular(counts)
    raise ValueError(f"unknown model {spec.name!r}; expected one of {MODEL_NAMES}")


def build_graph_recommender(spec: ModelSpec) -> GraphSequentialRecommender:
    """The encoder + head recommender of ``spec`` (whatever its ``name``), typed as such.

    For callers that need its API rather than any ``nn.Module``, e.g. the attacker's surrogate.
    """
    encoder = _build_encoder(spec)
    head = build_head(
        spec.head,
        hidden_channels=spec.embedding_dim,
        max_len=spec.max_len,
        num_blocks=spec.num_blocks,
        num_heads=spec.num_heads,
        dropout=spec.dropout,
    )
    return GraphSequentialRecommender(
        encoder=encoder,
        head=head,
        num_users=spec.num_users,
        num_items=spec.num_items,
        fuse_user=spec.fuse_user,
        bpr_weight=spec.bpr_weight,
        loss=spec.loss,
        negatives=spec.negatives,
        gbce_t=spec.gbce_t,
        sample_power=spec.sample_power,
        align_weight=spec.align_weight,
        align_temperature=spec.align_temperature,
    )


def _build_encoder(spec: ModelSpec) -> EmbeddingEncoder:
    return build_encoder(
        spec.encoder,
        spec.backend,
        num_users=spec.num_users,
        num_items=spec.num_items,
        embedding_dim=spec.embedding_dim,
        num_layers=spec.num_layers,
    )
