"""Files of the anomaly commands: labels, predictions, ground truth, public ids, fitted detectors.

* labels — ``user_id,label[,type]`` (label 0/1; type optional, e.g. ``shilling_push``);
* predictions — ``user_id,score,label`` for every account (score: higher = more anomalous);
* truth — ``user_id,label[,type][,split]`` (``split``: ``train`` = labeled, ``test`` = an
  evaluation instance; without the column every row is evaluated);
* public ids — ``user_id`` (the leaderboard subset);
* a fitted detector — a zip of JSON (header, attributes) and ``.npy`` arrays, loaded without
  unpickling anything (:func:`save_detector`).

Every reader reports a bad file as a :class:`~graphrec.errors.DataError` naming the file, the
1-based line (the header is line 1) and the problem: a missing column, an unknown or repeated
user, a label other than 0/1, a NaN score. Ids are compared as text, exactly as in the ratings.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.anomaly.detectors.base import Detector
from graphrec.anomaly.labels import NORMAL
from graphrec.data.ratings import Ratings
from graphrec.data.sources.parsing import check_nonempty
from graphrec.errors import DataError, format_location
from graphrec.io import atomic_write
from graphrec.serialization import (
    allowlist,
    decode,
    encode,
    files_trusted,
    refusal,
    warn_trusted,
)

DETECTOR_FORMAT = "graphrec-detector"
DETECTOR_VERSION = 2
TRAIN, TEST = "train", "test"


@dataclass
class Table:
    """A small CSV read as text, with the file line of every row."""

    path: Path
    frame: pd.DataFrame  # all columns str
    lines: np.ndarray  # [rows] 1-based file line of each row

    def where(self, row: int) -> str:
        return format_location(self.path, int(self.lines[row]))

    def error(self, row: int, problem: str) -> DataError:
        return DataError(f"{self.where(row)}: {problem}")


def read_table_text(path: Path, required: tuple[str, ...], expected: str) -> Table:
    """Read a small CSV with a header as text; blank lines are skipped but counted.

    Raises:
        DataError: no such file, an empty file, missing columns, a row with the wrong number of
            fields, or no data rows.
    """
    path = Path(path)
    check_nonempty(path)  # missing, empty or binary
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if not text.strip():
        raise DataError(f"{path}: empty file")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{format_location(path, 1)}: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(header) or 'none'}; expected {expected})"
        )
    records, lines = [], []
    for number, fields in enumerate(rows[1:], start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise DataError(
                f"{format_location(path, number)}: {len(fields)} fields, header has {len(header)}"
            )
        records.append([f.strip() for f in fields])
        lines.append(number)
    if not records:
        raise DataError(f"{path}: no data rows")
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return Table(path=path, frame=frame, lines=np.asarray(lines, dtype=np.int64))


def _binary_column(table: Table, column: str) -> np.ndarray:
    values = table.frame[column].to_numpy(dtype=object)
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        try:
            number = float(value)
        except ValueError:
            raise table.error(row, f"{column} {value!r} is not 0 or 1") from None
        if number not in (0.0, 1.0):
            raise table.error(row, f"{column} {value!r} is not 0 or 1")
        out[row] = int(number)
    return out


def _unique_ids(table: Table, what: str = "user_id") -> np.ndarray:
    ids = np.array([str(v) for v in table.frame[what]], dtype=object)
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise table.error(int(empty[0]), f"empty {what}")
    duplicated = pd.Series(ids).duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise table.error(row, f"{what} {ids[row]!r} appears more than once")
    return ids


# ----------------------------------------------------------------------------------- labels
@dataclass
class Labels:
    """Labels aligned with a :class:`Ratings`' contiguous user ids.

    Attributes:
        y: [num_users] 0/1, NaN = unlabeled.
        types: [num_users] type names (``normal`` for 0, ``""`` unlabeled, ``anomalous`` for a
            1 without a type).
    """

    y: np.ndarray
    types: np.ndarray

    @property
    def num_labeled(self) -> int:
        return int((~np.isnan(self.y)).sum())

    @property
    def num_anomalous(self) -> int:
        return int(np.nansum(self.y))


def read_labels(path: Path, ratings: Ratings) -> Labels:
    """Read ``user_id,label[,type]`` onto the accounts of ``ratings``.

    Raises:
        DataError: missing columns, a label other than 0/1, a user not in the ratings, a
            repeated user, or a type given as ``normal`` for label 1 (or another type for 0).
    """
    table = read_table_text(path, ("user_id", "label"), "user_id,label[,type]")
    ids = _unique_ids(table)
    labels = _binary_column(table, "label")
    index = {str(u): i for i, u in enumerate(ratings.user_ids)}
    users = np.empty(len(ids), dtype=np.int64)
    for row, raw in enumerate(ids):
        if raw not in index:
            raise table.error(row, f"user {raw!r} is not in the ratings ({ratings.name})")
        users[row] = index[raw]
    y = np.full(ratings.num_users, np.nan)
    y[users] = labels
    types = np.full(ratings.num_users, "", dtype=object)
    types[users] = np.where(labels == 1, "anomalous", NORMAL)
    if "type" in table.frame.columns:
        given = [str(v) for v in table.frame["type"]]
        for row in range(len(given)):
            kind = given[row]
            if labels[row] == 0 and kind not in ("", NORMAL):
                raise table.error(row, f"label 0 with anomaly type {kind!r}")
            if labels[row] == 1 and kind == NORMAL:
                raise table.error(row, "label 1 with type 'normal'")
            if labels[row] == 1 and kind:
                types[users[row]] = kind
    return Labels(y=y, types=types)


# ------------------------------------------------------------------------------ predictions
def prediction_frame(ratings: Ratings, scores: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """``user_id,score,label`` for every account of ``ratings``.

    Raises:
        ValueError: wrong lengths, NaN/inf scores or labels other than 0/1.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != (ratings.num_users,) or labels.shape != (ratings.num_users,):
        raise ValueError(
            f"need {ratings.num_users} scores and labels, got {scores.shape} and {labels.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return pd.DataFrame(
        {
            "user_id": ratings.user_ids.astype(str),
            "score": scores,
            "label": labels.astype(np.int64),
        }
    )


def write_predictions(path: Path, frame: pd.DataFrame) -> Path:
    """Write a prediction frame atomically (scores with 6 significant digits)."""
    return atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def read_predictions(path: Path) -> pd.DataFrame:
    """Read ``user_id,score,label``.

    Raises:
        DataError: missing columns, a repeated user, a score that is not a finite number, or a
            label other than 0/1.
    """
    table = read_table_text(path, ("user_id", "score", "label"), "user_id,score,label")
    ids = _unique_ids(table)
    raw = table.frame["score"].to_numpy(dtype=object)
    scores = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        row = int(bad[0])
        raise table.error(row, f"score {raw[row]!r} is not a finite number")
    labels = _binary_column(table, "label")
    return pd.DataFrame({"user_id": ids, "score": scores, "label": labels})


# ------------------------------------------------------------------------------------ truth
def read_truth(path: Path) -> pd.DataFrame:
    """Read ``user_id,label[,type][,split]``; returns those columns (type ``""``/``normal``
    filled in when absent, split ``test`` when absent).

    Raises:
        DataError: missing columns, repeated users, labels other than 0/1, unknown splits.
    """
    table = read_table_text(path, ("user_id", "label"), "user_id,label[,type][,split]")
    ids = _unique_ids(table)
    labels = _binary_column(table, "label")
    frame = table.frame
    if "type" in frame.columns:
        types = frame["type"].to_numpy(dtype=object).astype(str)
        types = np.where(types == "", np.where(labels == 1, "anomalous", NORMAL), types)
    else:
        types = np.where(labels == 1, "anomalous", NORMAL)
    split = np.full(len(ids), TEST, dtype=object)
    if "split" in frame.columns:
        split = np.array([str(v) for v in frame["split"]], dtype=object)
        bad = np.flatnonzero(~np.isin(split, (TRAIN, TEST)))
        if len(bad):
            raise table.error(int(bad[0]), f"split {split[bad[0]]!r} is not train or test")
    return pd.DataFrame({"user_id": ids, "label": labels, "type": types, "split": split})


def read_ids(path: Path) -> np.ndarray:
    """Read a ``user_id`` column (e.g. ``public.csv``)."""
    table = read_table_text(path, ("user_id",), "user_id")
    return _unique_ids(table)


def evaluate_predictions(
    predictions: pd.DataFrame,
    truth: pd.DataFrame,
    public: np.ndarray | None = None,
    *,
    pred_path: Path | str = "predictions",
) -> dict[str, dict[str, Any]]:
    """Reports (:func:`graphrec.eval.detection.detection_report`) on the evaluation instances
    (truth rows with split ``test``), and on the public subset when given.

    Raises:
        DataError: an evaluation instance without a prediction, or public ids not among them.
    """
    from graphrec.eval.detection import detection_report

    evaluated = truth[truth["split"] == TEST]
    if evaluated.empty:
        raise DataError("truth has no evaluation instances (every row has split 'train')")
    merged = evaluated.merge(predictions, on="user_id", how="left", suffixes=("", "_pred"))
    missing = merged["score"].isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{pred_path}: no prediction for {int(missing.sum())} evaluation instance(s), "
            f"e.g. user {merged['user_id'].to_numpy()[missing][0]!r}"
        )

    def report(frame: pd.DataFrame) -> dict[str, Any]:
        return detection_report(
            frame["label"].to_numpy(),
            frame["score"].to_numpy(),
            frame["label_pred"].to_numpy(),
            frame["type"].to_numpy(),
        )

    out = {"full": report(merged)}
    if public is not None:
        chosen = merged["user_id"].isin(set(map(str, public))).to_numpy()
        outside = sorted(set(map(str, public)) - set(merged["user_id"]))
        if outside:
            raise DataError(f"public id {outside[0]!r} is not an evaluation instance of the truth")
        out["public"] = report(merged[chosen])
    return out


# --------------------------------------------------------------------------------- detector
DETECTOR_CLASSES = (
    "graphrec.anomaly.detectors.supervised.SupervisedDetector",
    "graphrec.anomaly.detectors.semi_supervised.SemiSupervisedDetector",
    "graphrec.anomaly.detectors.unsupervised.UnsupervisedDetector",
    "graphrec.anomaly.detectors.unsupervised._Scale",
    "graphrec.anomaly.detectors.inputs.InputOptions",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
)
"""The only classes a detector file may rebuild (nothing else is imported or called)."""
HEADER = "detector.json"


def save_detector(detector: Detector, path: Path, **metadata: Any) -> Path:
    """Save a fitted detector atomically, without pickle: a zip of ``detector.json`` (a header
    and the detector's attributes as JSON) and ``arrays/*.npy`` (every array, written with
    ``allow_pickle=False``)."""
    if detector.threshold_ is None:
        raise ValueError("refusing to save an unfitted detector")
    arrays: dict[str, np.ndarray] = {}

    def put(array: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(array)
        return key

    header = {
        "format": DETECTOR_FORMAT,
        "version": DETECTOR_VERSION,
        "class": type(detector).__name__,
        "metadata": encode(metadata, put),
        "detector": encode(detector, put, allowlist(DETECTOR_CLASSES)),
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(HEADER, json.dumps(header, allow_nan=False))
            for key, array in arrays.items():
                with archive.open(f"arrays/{key}.npy", "w", force_zip64=True) as handle:
                    np.lib.format.write_array(handle, array, allow_pickle=False)

    return atomic_write(Path(path), write)


def load_detector(path: Path, *, trust: bool | None = None) -> tuple[Detector, dict[str, Any]]:
    """Load what :func:`save_detector` wrote; returns the detector and its metadata.

    Nothing in the file is unpickled: arrays are read with ``allow_pickle=False`` and objects are
    rebuilt only for the classes of :data:`DETECTOR_CLASSES`. Detector files of graphrec before
    version 2 were pickles: they load only with ``trust`` (``--trust-file``), with a warning.

    Args:
        path: the detector file.
        trust: load a legacy pickle file; default: the process-wide setting
            (:func:`graphrec.serialization.trust_files`).

    Raises:
        DataError: no such file, or not a graphrec detector file (or another version).
        UnsafeFileError: a pickle file without ``trust``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    trust = files_trusted() if trust is None else trust
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(1) != b"\x80":  # every pickle of protocol >= 2 starts so
                raise DataError(f"{path}: not a graphrec detector file")
        if not trust:
            raise refusal(path, "detector file", "it is a pickle, not a safe detector file")
        warn_trusted(path, "detector")
        return _load_pickled_detector(path)
    try:
        with zipfile.ZipFile(path) as archive:
            header = json.loads(archive.read(HEADER))
            if not isinstance(header, dict) or header.get("format") != DETECTOR_FORMAT:
                raise DataError(f"{path}: not a graphrec detector file")
            if header.get("version") != DETECTOR_VERSION:
                raise DataError(
                    f"{path}: detector file version {header.get('version')}, expected "
                    f"{DETECTOR_VERSION}"
                )

            def get(key: str) -> np.ndarray:
                with archive.open(f"arrays/{key}.npy") as handle:
                    return np.lib.format.read_array(handle, allow_pickle=False)

            detector = decode(header["detector"], get, allowlist(DETECTOR_CLASSES))
            metadata = decode(header.get("metadata", {}), get)
    except DataError:
        raise
    except Exception as error:  # a damaged or foreign zip: many types
        raise DataError(
            f"{path}: not a readable graphrec detector file ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(detector, Detector):
        raise DataError(f"{path}: holds a {type(detector).__name__}, not a detector")
    return detector, dict(metadata)


def _load_pickled_detector(path: Path) -> tuple[Detector, dict[str, Any]]:
    """A detector file of graphrec < 0.2 (a pickle). Runs code: only for trusted files."""
    import pickle

    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except Exception as error:  # unpickling raises many unrelated types on a foreign file
        raise DataError(f"{path}: not a graphrec detector file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != DETECTOR_FORMAT:
        raise DataError(f"{path}: not a graphrec detector file")
    detector = payload.get("detector")
    if not isinstance(detector, Detector):
        raise DataError(f"{path}: holds a {type(detector).__name__}, not a detector")
    return detector, dict(payload.get("metadata", {}))
