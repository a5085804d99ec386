"""train → evaluate → recommend → interactive → visualize → compare, through the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from graphrec.cli.app import app

runner = CliRunner()
TINY = ["--set", "data.max_len=8", "--set", "model.embedding_dim=8", "--set", "model.num_blocks=1"]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, request):
    tiny_dir = request.getfixturevalue("tiny_dataset_dir")
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for name, extra in (("pyg", []), ("dgl", ["--backend", "dgl"])):
        run_dir = root / name
        result = runner.invoke(
            app,
            [
                "--device",
                "cpu",
                "train",
                "--source",
                str(tiny_dir),
                "--run-dir",
                str(run_dir),
                "--epochs",
                "2",
                *extra,
                *TINY,
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        assert "ndcg@10" in result.output
        runs[name] = run_dir
    return tiny_dir, runs


def test_evaluate_saves_rankings(trained_runs, tmp_path):
    tiny_dir, runs = trained_runs
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app, ["evaluate", "--run-dir", str(runs["pyg"]), "--save-rankings", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "hit@10" in result.output
    rankings = pd.read_csv(out, dtype=str)
    assert list(rankings.columns) == ["user_id", "target_item", "rank", "item_id"]
    assert sorted(rankings["rank"].astype(int).unique()) == list(range(1, 11))
    assert rankings["item_id"].str.startswith("m").all()


def test_recommend_for_user_and_items(trained_runs):
    _, runs = trained_runs
    result = runner.invoke(
        app, ["recommend", "--run-dir", str(runs["dgl"]), "--user", "u3", "--k", "5"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Movie") == 6  # five listed, one named as most recent
    result = runner.invoke(app, ["recommend", "--run-dir", str(runs["pyg"]), "--items", "m1,m2"])
    assert result.exit_code == 0, result.output
    assert "[m1]" not in result.output and "[m2]" not in result.output
    result = runner.invoke(app, ["recommend", "--run-dir", str(runs["pyg"]), "--user", "nobody"])
    assert result.exit_code == 2 and "unknown user id 'nobody'" in result.output


def test_interactive_scripted(trained_runs):
    _, runs = trained_runs
    commands = ["search movie 1", "add m1", "add m5", "show", "remove #1", "recommend"]
    script = "\n".join([*commands, "popular", "clear", "recommend", "exit", ""])
    result = runner.invoke(
        app, ["interactive", "--run-dir", str(runs["pyg"]), "--k", "3"], input=script
    )
    assert result.exit_code == 0, result.output
    assert "added [m1]" in result.output and "removed [m1]" in result.output
    assert " 3. [" in result.output
    assert "sequence is empty" in result.output and "bye" in result.output


def test_visualize_and_compare(trained_runs, tmp_path):
    _, runs = trained_runs
    result = runner.invoke(
        app, ["visualize", "--run-dir", str(runs["pyg"]), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "losses.png").read_bytes()[:4] == b"\x89PNG"
    result = runner.invoke(app, ["compare", str(runs["pyg"]), str(runs["dgl"]), "--show", "1"])
    assert result.exit_code == 0, result.output
    assert "overlap@10" in result.output
