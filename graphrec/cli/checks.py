"""Checks every command runs before any work: choices, devices, config values, output paths.

Choices are ``Literal`` types, so ``--help`` lists them and a bad value is a usage error; they
are spelt out here (importing the model modules would load torch for every command) and a test
keeps them equal to the library's constants. Everything else raises ``typer.BadParameter`` or a
:class:`~graphrec.errors.GraphrecError`, which the root group prints as one line (exit 2).
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Literal

import typer

from graphrec.config import Config
from graphrec.errors import GraphrecError
from graphrec.io import check_writable

ModelName = Literal["graphrec", "lightgcn_bpr", "simple", "popular"]
EncoderName = Literal["lightgcn", "sage", "gat"]
BackendName = Literal["pyg", "dgl"]
HeadName = Literal["sasrec", "gru"]
ExportFormat = Literal["graphml", "gexf", "csv", "parquet", "pyg", "dgl"]
Strategy = Literal["autoregressive", "random"]
DetectorMode = Literal["auto", "supervised", "semi-supervised", "unsupervised"]
Stage = Literal["test", "valid"]
GraphSplit = Literal["all", "train"]
Preset = Literal["ml-100k", "ml-1m", "ml-20m"]
SplitFormat = Literal["recbole"]


class DemoStage(str, Enum):
    """A stage of ``graphrec demo`` (an Enum: typer takes no ``Literal`` inside a list)."""

    data = "data"
    graph = "graph"
    recommend = "recommend"
    security = "security"
    anomaly = "anomaly"


EDGE_WEIGHTS = ("none", "rating")
PRECISIONS = ("fp32", "bf16")
LOSSES = ("auto", "full", "sampled", "gbce")
MISSING_BACKENDS = {("gat", "dgl")}
"""Encoder/backend pairs that do not exist (GAT is PyG-only)."""
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def choices(kind: object) -> tuple[str, ...]:
    """The values of a ``Literal`` choice type or a choice ``Enum``."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return tuple(member.value for member in kind)
    return tuple(kind.__args__)  # type: ignore[attr-defined]


def check_device(value: str | None, option: str = "--device") -> str | None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``, and CUDA only where torch sees a GPU."""
    if value is None:
        return None
    if not _DEVICE.match(value):
        raise typer.BadParameter(
            f"{value!r} is not a device; use auto, cpu, cuda or cuda:N", param_hint=option
        )
    if value.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise typer.BadParameter(
                f"{value!r} requested but torch sees no CUDA device on this machine "
                f"(torch {torch.__version__}); use --device cpu",
                param_hint=option,
            )
        index = int(value.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise typer.BadParameter(
                f"{value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                param_hint=option,
            )
    return value


def device_callback(value: str | None) -> str | None:
    return check_device(value)


def check_config(config: Config) -> Config:
    """The resolved config's choices and ranges (``--set`` and YAML bypass the option types)."""
    model, train = config.model, config.train
    allowed = {
        "model.name": (model.name, choices(ModelName)),
        "model.encoder": (model.encoder, choices(EncoderName)),
        "model.backend": (model.backend, choices(BackendName)),
        "model.head": (model.head, choices(HeadName)),
        "graph.edge_weight": (config.graph.edge_weight, EDGE_WEIGHTS),
        "train.precision": (train.precision, PRECISIONS),
        "train.loss": (train.loss, LOSSES),
    }
    for key, (value, options) in allowed.items():
        if value not in options:
            raise GraphrecError(f"{key}={value!r} is not one of {', '.join(options)}")
    if (model.encoder, model.backend) in MISSING_BACKENDS:
        raise GraphrecError(
            f"encoder {model.encoder!r} has no {model.backend!r} backend; use --backend pyg"
        )
    positive = {
        "train.epochs": train.epochs,
        "train.batch_size": train.batch_size,
        "train.patience": train.patience,
        "train.eval_every": train.eval_every,
        "model.embedding_dim": model.embedding_dim,
        "data.max_len": config.data.max_len,
        "eval.batch_size": config.eval.batch_size,
    }
    for key, value in positive.items():
        if value < 1:
            raise GraphrecError(f"{key} must be >= 1, got {value}")
    if train.lr <= 0:
        raise GraphrecError(f"train.lr must be > 0, got {train.lr}")
    if model.backend == "dgl":
        from importlib.util import find_spec

        if find_spec("dgl") is None:
            raise GraphrecError("--backend dgl needs DGL: pip install -e .[dgl]")
    check_device(train.device, "train.device")
    return config


def output_file(path: Path | None, option: str) -> Path | None:
    """Check an output file can be written (creating nothing); None passes."""
    if path is not None:
        check_writable(path, what=option)
    return path


def output_folder(path: Path | None, option: str) -> Path | None:
    """Check an output folder can be created or written (creating nothing); None passes."""
    if path is not None:
        check_writable(path, folder=True, what=option)
    return path


def input_file(path: Path | None, option: str) -> Path | None:
    """An existing, readable file (a clear message before any work)."""
    if path is not None and not Path(path).is_file():
        state = "is a folder" if Path(path).is_dir() else "does not exist"
        raise GraphrecError(f"{option} {path} {state}")
    return path


def run_folder(path: Path, option: str = "--run-dir") -> Path:
    """A run folder of ``graphrec train`` (it has ``best.pt``)."""
    path = Path(path)
    if not path.is_dir():
        raise GraphrecError(f"{option} {path} does not exist")
    if not (path / "best.pt").is_file():
        raise GraphrecError(f"{option} {path} is not a trained run (no best.pt)")
    return path
