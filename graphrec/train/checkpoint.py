"""Atomic checkpoints that carry everything needed to rebuild, evaluate or resume a model, and
that load without running code.

A checkpoint holds the model's constructor arguments, its weights, the resolved config, the git
SHA, the seed, the epoch, the best metric, and (for resuming) the optimizer and RNG states. It is
written to a temporary file beside the target and moved into place, so an interrupted write never
leaves a truncated checkpoint.

File format (version 2): ``torch.save`` of ``{"format", "version", "metadata", "tensors"}``, where
``metadata`` is a JSON string (the payload with every tensor replaced by a key, see
:mod:`graphrec.serialization`) and ``tensors`` maps those keys to tensors. It is read with
``torch.load(weights_only=True)``, torch's restricted unpickler, which refuses any Python object
that is not a tensor or a plain container, so a crafted file cannot run code. Checkpoints of
earlier versions were full pickles: they load only with ``trust=True`` (``--trust-file``), with a
warning.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.errors import GraphrecError
from graphrec.io import atomic_write
from graphrec.serialization import decode, encode, files_trusted, refusal, warn_trusted

CHECKPOINT_FORMAT = "graphrec-checkpoint"
CHECKPOINT_VERSION = 2


def git_sha() -> str:
    """The repository's HEAD commit, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, NumPy arrays, numbers, strings and containers of them) to
    ``path`` atomically, in the safe format (module docstring)."""
    tensors: dict[str, torch.Tensor] = {}

    def put(array: Any) -> str:
        key = f"t{len(tensors)}"
        if isinstance(array, np.ndarray):  # e.g. NumPy's RNG state: stored as a tensor
            key = f"n{len(tensors)}"
            array = torch.from_numpy(array.copy())
        tensors[key] = array
        return key

    metadata = json.dumps(encode(payload, put), allow_nan=False)
    record = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "metadata": metadata,
        "tensors": tensors,
    }
    atomic_write(Path(path), lambda tmp: torch.save(record, tmp))


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", *, trust: bool | None = None
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, without unpickling code.

    Args:
        path: the checkpoint file.
        map_location: where tensors go (as in ``torch.load``).
        trust: also load older, pickle-based checkpoints (they can run code); default: the
            process-wide setting (:func:`graphrec.serialization.trust_files`, ``--trust-file``).

    Raises:
        GraphrecError: no such file, or not a checkpoint.
        UnsafeFileError: a file that would need unpickling, without ``trust``.
    """
    path = Path(path)
    if not path.is_file():
        raise GraphrecError(f"checkpoint not found: {path}")
    trust = files_trusted() if trust is None else trust
    try:
        record = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types on a file that is not a checkpoint
        refused = re.search(r"GLOBAL ([\w.]+)", str(error))
        if not isinstance(error, pickle.UnpicklingError) or refused is None:
            reason = _first_line(error)
            raise GraphrecError(f"{path}: not a graphrec checkpoint ({reason})") from None
        if not trust:
            raise refusal(path, "checkpoint", f"it names {refused.group(1)}") from None
        warn_trusted(path, "checkpoint")
        return torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(record, dict):
        raise GraphrecError(f"{path}: not a checkpoint (holds a {type(record).__name__})")
    if record.get("format") != CHECKPOINT_FORMAT:
        return record  # an older checkpoint made only of tensors and plain values: safe
    if record.get("version") != CHECKPOINT_VERSION:
        raise GraphrecError(
            f"{path}: checkpoint version {record.get('version')}, this graphrec reads "
            f"{CHECKPOINT_VERSION}"
        )
    tensors = record["tensors"]

    def get(key: str) -> Any:
        value = tensors[key]
        return value.numpy() if key.startswith("n") else value

    try:
        return decode(json.loads(record["metadata"]), get)
    except (KeyError, TypeError, ValueError) as error:
        raise GraphrecError(f"{path}: damaged checkpoint ({error})") from None


def _first_line(error: Exception) -> str:
    """The error's last informative line (torch's own are long), or its type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Check the documentation")]
    return lines[-1][:160] if lines else type(error).__name__
