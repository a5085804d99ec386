"""Typed configuration: dataclass schema, YAML files, dotted overrides.

Precedence is defaults < YAML file < ``--set a.b=c``. Unknown keys and values of the wrong type are
errors naming the key, so a typo in a config never silently falls back to a default. Only ``cli/``
and ``train/`` see the root :class:`Config`; library functions take plain arguments.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graphrec.errors import GraphrecError


class ConfigError(GraphrecError, ValueError):
    """A config file or override that does not match the schema."""


@dataclass
class DataConfig:
    source: str = "synthetic:ml-100k"
    """Dataset folder or file any reader knows, or ``synthetic:<preset>`` for generated data."""
    seed: int = 0
    """Seed of the synthetic generator."""
    min_events: int = 3
    """Users with fewer events stay in train only (leave-one-out needs valid and test)."""
    max_len: int = 50
    """Sequences are truncated to their most recent ``max_len`` items."""


@dataclass
class GraphConfig:
    edge_weight: str = "none"
    """Edge weights for the encoder: ``none`` or ``rating`` (rating / 5)."""
    item_transitions: bool = False
    """Add item–item edges between consecutive training items of each user (SR-GNN's session
    graph beside the user–item edges; :mod:`graphrec.graph.transitions`)."""


@dataclass
class ModelConfig:
    name: str = "graphrec"
    """Model: ``graphrec`` (encoder + sequential head) or a peer: ``lightgcn_bpr`` (encoder alone),
    ``simple`` (the source project's SimpleSequentialRecommender), ``popular`` (most popular)."""
    encoder: str = "lightgcn"
    """GNN encoder: ``lightgcn``, ``sage`` or ``gat``."""
    backend: str = "pyg"
    """Message-passing backend: ``pyg`` or ``dgl`` (lightgcn and sage only)."""
    head: str = "sasrec"
    """Sequential head of ``graphrec``: ``sasrec`` or ``gru``."""
    embedding_dim: int = 64
    """Width of user/item embeddings."""
    num_layers: int = 2
    """Message-passing layers of the encoder."""
    num_blocks: int = 2
    """Self-attention blocks of the SASRec head."""
    num_heads: int = 2
    """Attention heads per block."""
    dropout: float = 0.2
    """Dropout in the head."""
    fuse_user: bool = True
    """Add the user's node embedding to the head's sequence representation."""


@dataclass
class TrainConfig:
    epochs: int = 200
    """Maximum epochs; early stopping usually ends sooner."""
    batch_size: int = 128
    """Users (whole sequences) per batch."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-5
    """AdamW weight decay."""
    bpr_weight: float = 0.1
    """Weight of the encoder's BPR loss beside the next-item cross-entropy."""
    window: str = "last"
    """Which ``data.max_len + 1`` training items of a long history an epoch trains on: ``last``
    (the most recent) or ``random`` (a window drawn per user and epoch, seeded)."""
    align_weight: float = 0.0
    """Weight of the contrastive alignment of each sequence's state with its user's graph node
    (in-batch InfoNCE, as GCL4SR / MAERec couple the two views); 0 = off."""
    align_temperature: float = 0.2
    """InfoNCE temperature of the alignment term."""
    loss: str = "auto"
    """Next-item loss: ``full`` (softmax over every item), ``sampled`` (softmax over the target
    and ``negatives`` items sampled per batch, logQ-corrected) or ``gbce`` (gSASRec's gBCE on
    uniform samples, Petrov & Macdonald 2023); ``auto`` = full up to 2,048 items, sampled above
    (:data:`graphrec.models.recommender.FULL_SOFTMAX_MAX_ITEMS`). The sampled losses stop memory
    and time growing with positions x items (large catalogues)."""
    negatives: int = 1024
    """Items sampled per batch for the ``sampled`` and ``gbce`` losses."""
    gbce_t: float = 0.75
    """gBCE calibration ``t`` in [0, 1] (0 = plain binary cross-entropy on the samples)."""
    sample_power: float = 0.75
    """The ``sampled`` loss draws items with probability proportional to (training degree + 1)
    to this power, with the logQ correction; 0 = uniform."""
    precision: str = "fp32"
    """``fp32``, or ``bf16`` for bfloat16 autocast of the forward pass."""
    compile: bool = False
    """``torch.compile`` the training step's model."""
    patience: int = 10
    """Epochs without validation NDCG@10 gain before stopping."""
    eval_every: int = 1
    """Validate every this many epochs."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``."""


@dataclass
class EvalConfig:
    ks: list[int] = field(default_factory=lambda: [5, 10, 20])
    """Cut-offs of Hit/NDCG/MRR."""
    batch_size: int = 1024
    """Users scored per matrix product."""


@dataclass
class Config:
    name: str = "graphrec"
    """Experiment name: the first part of the run folder's name."""
    seed: int = 42
    """Seed of every random draw in training and evaluation."""
    data: DataConfig = field(default_factory=DataConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, updated by a YAML file, updated by ``key.sub=value`` overrides."""
    config = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        with path.open() as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: the top level must be a mapping, got {type(loaded).__name__}"
            )
        config = _merge(config, loaded, where=str(path))
    for override in overrides or []:
        config = apply_override(config, override)
    return config


def apply_override(config: Config, override: str) -> Config:
    """Apply one ``a.b=c`` override; the value is parsed as YAML (``1e-3``, ``true``, ``[5]``)."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form key.sub=value")
    nested: dict[str, Any] = {}
    cursor = nested
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return _merge(config, nested, where=f"--set {override}")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` saved with :func:`to_dict` (checkpoints store it this way)."""
    return _merge(Config(), data, where="saved config")


def _merge(instance: Any, updates: dict[str, Any], where: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(type(instance))
    known = {f.name for f in dataclasses.fields(instance)}
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown key {dotted!r} (known: {sorted(known)})")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {dotted!r} must be a mapping")
            changes[key] = _merge(current, value, where, prefix=f"{dotted}.")
        else:
            changes[key] = _coerce(value, hints[key], dotted, where)
    return dataclasses.replace(instance, **changes)


def _coerce(value: Any, hint: Any, dotted: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is list:
        (inner,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {dotted!r} must be a list, got {value!r}")
        return [_coerce(v, inner, dotted, where) for v in value]
    if hint in (int, float) and isinstance(value, str):
        value = _parse_number(value, hint, dotted, where)  # YAML 1.1 reads `1e-3` as a string
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(
            f"{where}: {dotted!r} must be {hint.__name__}, got {value!r} ({type(value).__name__})"
        )
    return value


def _parse_number(value: str, hint: type, dotted: str, where: str) -> int | float:
    try:
        return hint(value)
    except ValueError:
        raise ConfigError(f"{where}: {dotted!r} must be {hint.__name__}, got {value!r}") from None
