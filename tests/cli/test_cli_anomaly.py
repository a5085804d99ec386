"""``graphrec anomaly`` end to end on small hand-made CSV files, into tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from graphrec.cli.app import app

runner = CliRunner()
NAMES = ["ada", "bo", "cy", "di", "ed", "flo", "gus", "hal", "ivy", "jo"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_ratings(folder: Path, timestamps: bool = False, seed: int = 0) -> tuple[Path, list[str]]:
    """70 people with tastes over 60 films, plus 5 bots rating 30 films 1 star in a row.

    Ids are strings ("ada-3", "film-07"); returns the file and the bots' ids.
    """
    rng = np.random.default_rng(seed)
    films = [f"film-{k:02d}" for k in range(60)]
    quality = rng.normal(3.5, 0.6, size=60)
    rows = []
    for person in range(70):
        name = f"{NAMES[person % 10]}-{person}"
        taste = rng.normal(0, 0.8, size=60)
        for k in rng.choice(60, size=int(rng.integers(12, 25)), replace=False):
            value = int(np.clip(np.rint(quality[k] + taste[k] + rng.normal(0, 0.5)), 1, 5))
            rows.append((name, films[k], value))
    bots = [f"bot-{b}" for b in range(5)]
    for bot in bots:
        for k in rng.choice(60, size=30, replace=False):
            rows.append((bot, films[k], 1))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    if timestamps:
        frame["timestamp"] = 1_600_000_000 + np.arange(len(frame)) * 60
    path = folder / ("ratings_t.csv" if timestamps else "ratings.csv")
    frame.to_csv(path, index=False)
    return path, bots


def write_labels(path: Path, ratings: Path, bots: list[str], share: float) -> Path:
    users = pd.read_csv(ratings, dtype=str)["user_id"].unique()
    normals = [u for u in users if u not in bots]
    rng = np.random.default_rng(1)
    chosen = rng.choice(normals, size=int(share * len(normals)), replace=False)
    known_bots = bots if share >= 0.5 else bots[:3]
    frame = pd.DataFrame(
        {
            "user_id": list(chosen) + known_bots,
            "label": [0] * len(chosen) + [1] * len(known_bots),
            "type": ["normal"] * len(chosen) + ["bot_consistency"] * len(known_bots),
        }
    )
    frame.to_csv(path, index=False)
    return path


def read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"user_id": str})


@pytest.mark.parametrize("timestamps", [False, True])
def test_detect_without_labels_flags_bots(tmp_path: Path, timestamps: bool) -> None:
    ratings, bots = write_ratings(tmp_path, timestamps=timestamps)
    out = tmp_path / "pred.csv"
    result = invoke("anomaly", "detect", "--ratings", ratings, "--out", out)
    assert result.exit_code == 0, result.output
    assert "unsupervised" in result.output
    pred = read_predictions(out)
    assert list(pred.columns) == ["user_id", "score", "label"]
    assert len(pred) == 75 and pred["user_id"].is_unique
    assert set(pred["label"]) <= {0, 1} and pred["score"].notna().all()
    flagged = set(pred.loc[pred["label"] == 1, "user_id"])
    assert len(flagged & set(bots)) >= 4


def test_detect_with_labels_picks_supervised_or_semi_supervised(tmp_path: Path) -> None:
    ratings, bots = write_ratings(tmp_path)
    many = write_labels(tmp_path / "many.csv", ratings, bots, share=0.7)
    out = tmp_path / "pred.csv"
    result = invoke("anomaly", "detect", "--ratings", ratings, "--labels", many, "--out", out)
    assert result.exit_code == 0, result.output
    assert "detector: supervised" in result.output
    pred = read_predictions(out).set_index("user_id")
    assert pred.loc[bots, "label"].sum() >= 4

    few = write_labels(tmp_path / "few.csv", ratings, bots, share=0.1)
    result = invoke("anomaly", "detect", "--ratings", ratings, "--labels", few, "--out", out)
    assert result.exit_code == 0, result.output
    assert "semi-supervised" in result.output
    pred = read_predictions(out).set_index("user_id")
    assert pred.loc[bots[3:], "label"].sum() == 2  # bots nobody labeled are found too


def test_fit_predict_evaluate_round_trip(tmp_path: Path) -> None:
    ratings, bots = write_ratings(tmp_path)
    labels = write_labels(tmp_path / "labels.csv", ratings, bots, share=0.7)
    model = tmp_path / "models" / "det.pt"
    result = invoke("anomaly", "fit", "--ratings", ratings, "--labels", labels, "--model", model)
    assert result.exit_code == 0, result.output
    assert model.is_file() and not list(model.parent.glob(".*.tmp"))
    out = tmp_path / "pred.csv"
    result = invoke("anomaly", "predict", "--ratings", ratings, "--model", model, "--out", out)
    assert result.exit_code == 0, result.output
    pred = read_predictions(out)
    assert len(pred) == 75

    users = pred["user_id"].to_numpy()
    labeled = set(pd.read_csv(labels, dtype=str)["user_id"])
    truth = pd.DataFrame(
        {
            "user_id": users,
            "label": [int(u in bots) for u in users],
            "type": ["bot_consistency" if u in bots else "normal" for u in users],
            "split": ["train" if u in labeled else "test" for u in users],
        }
    )
    truth.to_csv(tmp_path / "truth.csv", index=False)
    test_ids = truth.loc[truth["split"] == "test", "user_id"]
    test_ids.iloc[: len(test_ids) // 2].to_frame().to_csv(tmp_path / "public.csv", index=False)
    result = invoke(
        "anomaly",
        "evaluate",
        "--pred",
        out,
        "--truth",
        tmp_path / "truth.csv",
        "--public",
        tmp_path / "public.csv",
        "--json",
        tmp_path / "metrics.json",
    )
    assert result.exit_code == 0, result.output
    for text in ("== full set ==", "== public set ==", "F1", "PR-AUC", "confusion matrix"):
        assert text in result.output
    assert (tmp_path / "metrics.json").is_file()


def test_make_task_then_detect_and_evaluate(tmp_path: Path) -> None:
    from graphrec.anomaly.task import ratings_frame, write_csv
    from graphrec.data.synthetic import generate

    source = write_csv(ratings_frame(generate("ml-100k", seed=0, scale=0.15)), tmp_path / "src.csv")
    task = tmp_path / "step1"
    result = invoke(
        "anomaly",
        "make-task",
        "--step",
        "1",
        "--source",
        source,
        "--out",
        task,
        "--seed",
        "0",
        "--no-timestamps",
    )
    assert result.exit_code == 0, result.output
    assert (task / "ratings.csv").read_text().splitlines()[0] == "user_id,item_id,rating"
    out = tmp_path / "pred.csv"
    result = invoke(
        "anomaly",
        "detect",
        "--ratings",
        task / "ratings.csv",
        "--labels",
        task / "labels.csv",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    result = invoke(
        "anomaly",
        "evaluate",
        "--pred",
        out,
        "--truth",
        task / "truth.csv",
        "--public",
        task / "public.csv",
    )
    assert result.exit_code == 0, result.output
    assert "public set" in result.output


@pytest.mark.parametrize(
    ("labels_text", "message"),
    [
        ("user_id,label\nada-0,0\nnobody,1\n", "labels.csv:3: user 'nobody' is not in the ratings"),
        ("user_id,label\nada-0,2\n", "labels.csv:2: label '2' is not 0 or 1"),
        ("user_id,flag\nada-0,1\n", "labels.csv:1: missing column(s) label"),
        (
            "user_id,label\nada-0,1\nada-0,0\n",
            "labels.csv:3: user_id 'ada-0' appears more than once",
        ),
        ("user_id,label,type\nada-0,0,shilling_push\n", "labels.csv:2: label 0 with anomaly type"),
    ],
)
def test_bad_labels_exit_2_with_file_and_line(tmp_path: Path, labels_text: str, message: str):
    ratings, _ = write_ratings(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text(labels_text)
    result = invoke(
        "anomaly", "detect", "--ratings", ratings, "--labels", labels, "--out", tmp_path / "p.csv"
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "p.csv").exists()


def test_bad_predictions_and_ratings_exit_2(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("user_id,label\na,1\nb,0\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("user_id,score,label\na,0.9,1\nb,nan,0\n")
    result = invoke("anomaly", "evaluate", "--pred", pred, "--truth", truth)
    assert (
        result.exit_code == 2 and "pred.csv:3: score 'nan' is not a finite number" in result.output
    )
    pred.write_text("user_id,score,label\na,0.9,1\n")
    result = invoke("anomaly", "evaluate", "--pred", pred, "--truth", truth)
    assert result.exit_code == 2 and "no prediction for 1 evaluation instance" in result.output

    ratings = tmp_path / "r.csv"
    ratings.write_text("user,item_id,rating\na,x,3\n")
    result = invoke("anomaly", "detect", "--ratings", ratings, "--out", pred)
    assert result.exit_code == 2 and "r.csv" in result.output and "user_id" in result.output

    model = tmp_path / "m.pt"
    model.write_text("not a model")
    result = invoke("anomaly", "predict", "--ratings", ratings, "--model", model, "--out", pred)
    assert result.exit_code == 2 and "not a graphrec detector file" in result.output


@pytest.mark.parametrize("flag", ["--simulate", "--no-simulate"])
def test_simulate_flag_reaches_the_semi_supervised_detector(tmp_path: Path, flag: str) -> None:
    from graphrec.anomaly.files import load_detector

    ratings, bots = write_ratings(tmp_path)
    few = write_labels(tmp_path / "few.csv", ratings, bots, share=0.1)
    model = tmp_path / "det.pt"
    result = invoke("anomaly", "fit", "--ratings", ratings, "--labels", few, "--model", model, flag)
    assert result.exit_code == 0, result.output
    detector, _ = load_detector(model)
    assert detector.name == "semi-supervised"
    assert detector.simulate is (flag == "--simulate")
