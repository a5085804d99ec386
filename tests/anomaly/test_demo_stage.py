"""The demo's anomaly stage on a tiny synthetic world: its figures and their ranges."""

from __future__ import annotations

from pathlib import Path

from graphrec.anomaly.labels import STEP1_TYPES
from graphrec.data.split import leave_one_out
from graphrec.data.synthetic import generate
from graphrec.demo import STAGES, DemoContext, format_results


def test_anomaly_stage_reports_f1_overall_and_per_type(tmp_path: Path) -> None:
    ratings = generate("ml-100k", seed=0, scale=0.3)  # ~280 users
    ctx = DemoContext(out_dir=tmp_path, seed=0, ratings=ratings, split=leave_one_out(ratings))
    figures = STAGES["anomaly"](ctx)
    assert 0.0 <= figures["F1"] <= 1.0, figures  # ~8 test anomalies: no quality bound here
    per_type = {k.removeprefix("F1 "): v for k, v in figures.items() if k.startswith("F1 ")}
    assert per_type and set(per_type) <= set(STEP1_TYPES), per_type  # types in the test split
    assert all(0.0 <= v <= 1.0 for v in per_type.values())
    accounts, anomalous = map(int, figures["accounts / anomalous"].split(" / "))
    test, test_anomalous = map(int, figures["test accounts / anomalous"].split(" / "))
    assert accounts > ratings.num_users and 0 < test_anomalous < anomalous
    assert 0 < test < accounts
    assert "[anomaly]" in format_results({"anomaly": figures})
