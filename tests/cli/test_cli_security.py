"""`graphrec defend report` runs the whole chain on tiny data and writes the required keys."""

from __future__ import annotations

import json
import math

from conftest import make_tiny_ratings
from typer.testing import CliRunner

from graphrec.cli.app import app
from graphrec.data.sources.recbole import write_atomic

REQUIRED = (
    "target_ndcg10",
    "gro_ndcg10",
    "utility_preservation",
    "agreement10_undefended",
    "agreement10_gro",
    "surrogate_ndcg10_undefended",
    "surrogate_ndcg10_gro",
    "oracle_calls",
    "seat_detection_rate",
    "seat_fpr",
    "accounts_needed",
    "gro_lambda",
    "served_utility_preservation",
    "selection_split",
    "seat_auc_n100",
    "seat_detection_n100",
    "seat_fpr_n100",
    "gated_benign_utility",
    "accounts_for_agreement50",
    "aggregator_flag_rate",
)


def test_defend_report_writes_the_table(tmp_path):
    # A catalogue well above the lists' length, so surrogates always have negatives to sample.
    data = tmp_path / "data"
    write_atomic(make_tiny_ratings(num_users=60, num_items=200, seed=2), data, name="tiny")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "--device",
            "cpu",
            "defend",
            "report",
            "--source",
            str(data),
            "--run-dir",
            str(tmp_path / "chain"),
            "--json",
            str(out),
            "--budget",
            "60",
            "--k",
            "10",
            "--lambdas",
            "0.1",
            "--gro-epochs",
            "1",
            "--accounts",
            "1,3",
            "--volumes",
            "2,4",
            "--set",
            "train.epochs=2",
            "--set",
            "data.max_len=8",
            "--set",
            "model.embedding_dim=8",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "GRO lambda=0.1" in result.output and "SEAT n=4" in result.output
    assert "stream n=2" in result.output and "3 accounts" in result.output
    table = json.loads(out.read_text())
    for key in REQUIRED:
        assert key in table, key
    assert table["oracle_calls"] == 60
    assert table["gro_lambda"] == 0.1
    assert 0.0 <= table["agreement10_undefended"] <= 1.0
    assert table["headline_volume"] == 4 and table["seat_auc_n100"] is None
    assert 0.0 <= table["seat_fpr"] <= 1.0
    assert table["accounts_needed"] >= 1
    assert table["selection_split"] == "validation"
    assert set(table["accounts_for_agreement50"]) == {"undefended", "seat_block", "gro", "gated"}
    assert 0.0 <= table["gated_benign_utility"] <= 1.5
    assert math.isclose(
        table["utility_preservation"], table["gro_ndcg10"] / table["target_ndcg10"], rel_tol=1e-6
    )
