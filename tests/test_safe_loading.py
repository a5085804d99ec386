"""Checkpoints and detector files load without unpickling: a crafted file cannot run code."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphrec.anomaly.detectors.unsupervised import UnsupervisedDetector
from graphrec.anomaly.files import load_detector, save_detector
from graphrec.data.ratings import from_raw_events
from graphrec.errors import DataError
from graphrec.serialization import UnsafeFileError, decode, encode
from graphrec.train.checkpoint import load_checkpoint, save_checkpoint

MARKER = "graphrec-pwned"


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on the marker: the classic pickle exploit."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted(path: Path, marker: Path) -> Path:
    with open(path, "wb") as handle:
        pickle.dump({"format": "graphrec-detector", "detector": _RunsCode(marker)}, handle)
    return path


def test_crafted_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / MARKER
    path = tmp_path / "evil.pt"
    torch.save({"model_state": {}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(UnsafeFileError, match="--trust-file"):
        load_checkpoint(path)
    assert not marker.exists()
    load_checkpoint(path, trust=True)  # the explicit opt-in does unpickle (and warns)
    assert marker.exists()


def test_crafted_detector_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / MARKER
    path = _crafted(tmp_path / "evil.det", marker)
    with pytest.raises(UnsafeFileError, match="refused to load this detector file"):
        load_detector(path)
    assert not marker.exists()


def test_detector_zip_naming_a_foreign_class_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    events = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(40) for _ in range(8)],
            "item_id": [f"m{i}" for i in rng.integers(0, 30, size=320)],
            "rating": rng.integers(1, 6, size=320).astype(float),
        }
    ).drop_duplicates(["user_id", "item_id"])
    detector = UnsupervisedDetector().fit(from_raw_events(events))
    path = save_detector(detector, tmp_path / "ok.det", note="x")
    loaded, metadata = load_detector(path)
    assert metadata == {"note": "x"}
    np.testing.assert_allclose(loaded.threshold_, detector.threshold_)

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["detector.json"].decode()
    members["detector.json"] = header.replace(
        "graphrec.anomaly.detectors.unsupervised.UnsupervisedDetector", "os.system", 1
    ).encode()
    forged = tmp_path / "forged.det"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(DataError, match="not allowed"):
        load_detector(forged)


def test_checkpoint_round_trip_keeps_tensors_arrays_and_plain_values(tmp_path):
    state = np.random.default_rng(1).bit_generator.state
    payload = {
        "model_state": {"w": torch.arange(6.0).reshape(2, 3)},
        "rng": {"numpy": state, "array": np.arange(4, dtype=np.uint32)},
        "best": float("-inf"),
        "history": [{"epoch": 1, "train": 0.5}],
        "pair": (1, "a"),
    }
    save_checkpoint(tmp_path / "c.pt", payload)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["model_state"]["w"], payload["model_state"]["w"])
    assert loaded["rng"]["numpy"] == state
    np.testing.assert_array_equal(loaded["rng"]["array"], np.arange(4, dtype=np.uint32))
    assert loaded["best"] == float("-inf") and loaded["pair"] == (1, "a")
    assert loaded["history"] == payload["history"]


def test_encode_refuses_classes_outside_the_allowlist():
    with pytest.raises(TypeError, match="cannot store"):
        encode(_RunsCode(Path("x")), lambda array: "k")
    with pytest.raises(ValueError, match="not allowed"):
        decode({"$object": "os.system", "$state": {}}, lambda key: None)
