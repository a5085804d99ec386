"""Every bad option value, device or path: one line, exit 2, no traceback, nothing created."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from graphrec.cli.app import app
from graphrec.cli.checks import (
    LOSSES,
    PRECISIONS,
    BackendName,
    EncoderName,
    ExportFormat,
    HeadName,
    choices,
)
from graphrec.graph.export import FORMATS
from graphrec.models.encoders import BACKENDS, ENCODER_NAMES
from graphrec.models.heads import HEADS
from graphrec.models.recommender import NEXT_ITEM_LOSSES
from graphrec.train.trainer import PRECISIONS as TRAINER_PRECISIONS

runner = CliRunner()
UNWRITABLE = "/proc/graphrec-test/x"


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "option, value",
    [("--model", "foo"), ("--encoder", "foo"), ("--backend", "foo"), ("--head", "foo")],
)
def test_bad_training_choices_create_nothing(tmp_path, option, value):
    run_dir = tmp_path / "run"
    result = run("train", "--source", "synthetic:ml-100k", "--run-dir", run_dir, option, value)
    assert_one_line_error(result, option, "foo")
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("train", "--epochs", "0"), "--epochs"),
        (("train", "--set", "train.loss=softmax"), "train.loss"),
        (("train", "--run-dir", UNWRITABLE), "/proc"),
        (("graph", "export", "--format", "xml", "--out", "g.xml"), "--format"),
        (("anomaly", "detect", "--ratings", "r.csv", "--out", f"{UNWRITABLE}/p.csv"), "--out"),
    ],
)
def test_bad_values_and_paths_fail_before_any_work(tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.csv").write_text("user_id,item_id,rating\na,x,3\n")
    result = run(*args)
    assert_one_line_error(result, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]  # no runs/, no output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path):
    result = run("--device", "cuda", "train", "--run-dir", tmp_path / "run")
    assert_one_line_error(result, "no CUDA device")
    assert not (tmp_path / "run").exists()


def test_resume_without_a_checkpoint_says_so(tmp_path):
    result = run("train", "--source", "synthetic:ml-100k", "--run-dir", tmp_path, "--resume")
    assert_one_line_error(result, "nothing to resume", "--resume-if-present")


def test_saving_rankings_to_an_unwritable_path_fails_before_evaluating(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"")  # never read: the path check comes first
    result = run("evaluate", "--run-dir", tmp_path / "run", "--save-rankings", f"{UNWRITABLE}/r")
    assert_one_line_error(result, "--save-rankings")


def test_a_binary_file_is_named_without_echoing_its_bytes(tmp_path):
    data = tmp_path / "r.csv"
    data.write_bytes(b"\x1b[31m\x00\x01\x02binary" * 50)
    result = run("anomaly", "detect", "--ratings", data, "--out", tmp_path / "p.csv")
    assert_one_line_error(result, "r.csv", "binary")
    assert "\x1b" not in result.output


def test_cli_choices_match_the_library():
    assert set(choices(ExportFormat)) == set(FORMATS)
    assert set(LOSSES) == {"auto", *NEXT_ITEM_LOSSES}
    assert PRECISIONS == TRAINER_PRECISIONS
    assert set(choices(EncoderName)) == set(ENCODER_NAMES)
    assert set(choices(BackendName)) == set(BACKENDS)
    assert set(choices(HeadName)) == set(HEADS)
