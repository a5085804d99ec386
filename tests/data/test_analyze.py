"""Dataset analysis (table, summary.json, PNG figures) and the shared benchmark helpers."""

from __future__ import annotations

import json
import math
import os
import re
import runpy
import struct
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec import io
from graphrec.benchmark import Benchmark, markdown_table, result_path, write_json_atomic
from graphrec.data import figures
from graphrec.data.analyze import SUMMARY_FILE, analyze, format_summary_table
from graphrec.data.figures import FIGURE_NAMES, GENRE_SHARES, RATINGS_OVER_TIME
from graphrec.data.ratings import Ratings, from_raw_events
from graphrec.errors import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_data.py"
SHARED_ML100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_valid_figures(out: Path, expected: list[str]) -> None:
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(expected)
    for name in expected:
        path = out / name
        assert path.stat().st_size > 5_000, f"{name} is suspiciously small"
        assert png_size(path) == (640, 400)
    assert not list(out.glob(".*")), "temporary files left behind"


# ---------------------------------------------------------------------------- tiny data
def test_tiny_analysis_writes_summary_and_all_figures(tiny_ratings: Ratings, tmp_path: Path):
    out = tmp_path / "analysis"  # created by analyze
    stats = analyze(tiny_ratings, out)

    assert_valid_figures(out, list(FIGURE_NAMES))
    assert stats["figures"] == list(FIGURE_NAMES)
    assert stats["notes"] == []
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert saved["name"] == "tiny"
    assert saved["num_users"] == 12 == tiny_ratings.num_users
    assert saved["num_items"] == 20
    assert saved["num_events"] == len(tiny_ratings.events)
    histogram = tiny_ratings.events["rating"].value_counts(normalize=True)
    for value, share in histogram.items():
        assert saved["rating_histogram"][f"{value:g}"] == pytest.approx(share)
    assert sum(saved["events_per_month"].values()) == len(tiny_ratings.events)
    # The table reads the reloaded JSON (string keys, plain floats) exactly as the live dict.
    assert format_summary_table(saved) == format_summary_table(stats)


def test_no_timestamps_skips_time_figure(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c"],
            "item_id": [1, 2, 2, 3, 1],
            "rating": [5, 3, 4, 1, 2],
        }
    )
    items = pd.DataFrame({"genres": [("Drama",), ("Comedy", "Drama"), ()]}, index=["1", "2", "3"])
    ratings = from_raw_events(frame, items=items, name="no-times")
    assert not ratings.has_timestamps

    stats = analyze(ratings, tmp_path)

    expected = [n for n in FIGURE_NAMES if n != RATINGS_OVER_TIME]
    assert_valid_figures(tmp_path, expected)
    assert stats["notes"] == [f"{RATINGS_OVER_TIME} skipped: the data has no timestamps"]
    saved = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert saved["has_timestamps"] is False and "events_per_month" not in saved
    assert saved["genre_shares"] == {"Comedy": pytest.approx(1 / 3), "Drama": pytest.approx(2 / 3)}
    table = format_summary_table(stats)
    assert "no timestamps" in table and "skipped" in table
    assert "Drama                       66.7 %" in table


def test_no_genres_skips_genre_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: drawn.append(path.name))
    frame = pd.DataFrame(
        {"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [4, 2, 5], "timestamp": [0, 10, 20]}
    )
    stats = analyze(from_raw_events(frame), tmp_path)
    assert drawn == [n for n in FIGURE_NAMES if n != GENRE_SHARES]
    assert stats["notes"] == [f"{GENRE_SHARES} skipped: the items have no genre metadata"]
    assert "(no genre metadata)" in format_summary_table(stats)


def test_unwritable_folder_raises_and_leaves_nothing(tiny_ratings: Ratings, tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "analysis"
    with pytest.raises(DataError, match="not-a-folder"):
        analyze(tiny_ratings, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_read_only_folder_raises_before_writing(
    tiny_ratings: Ratings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # chmod cannot make a folder unwritable for root, so fake what os.access reports.
    monkeypatch.setattr(io.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match=f"{tmp_path}.*not writable"):
        analyze(tiny_ratings, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_files(
    tiny_ratings: Ratings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    calls = []

    def save(figure: object, path: Path) -> Path:
        calls.append(path.name)
        if len(calls) == 3:  # the disk fills up on the third figure
            return io.atomic_write(path, _raise_oserror)
        return io.atomic_write(path, lambda tmp: tmp.write_bytes(PNG_MAGIC))

    monkeypatch.setattr(figures, "save_figure", save)
    with pytest.raises(DataError, match=f"cannot write {tmp_path / FIGURE_NAMES[2]}"):
        analyze(tiny_ratings, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(calls[:2])  # the two finished figures; no temp file, no summary


def _raise_oserror(tmp: Path) -> None:
    tmp.write_bytes(b"partial")
    raise OSError(28, "No space left on device")


# ---------------------------------------------------------------------------- real ML-100K
@pytest.fixture(scope="module")
def ml100k_analysis(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, float]:
    if not (SHARED_ML100K / "ml-100k.inter").is_file():
        pytest.skip("shared ML-100K not found beside the repo")
    ratings = _read_ml100k(SHARED_ML100K)
    out = tmp_path_factory.mktemp("ml100k-analysis")
    start = time.perf_counter()
    stats = analyze(ratings, out)
    return stats, out, time.perf_counter() - start


def _read_ml100k(folder: Path) -> Ratings:
    try:
        from graphrec.data.load import load_ratings
    except ImportError:  # the loader is optional here: the RecBole .inter is plain TSV
        inter = pd.read_csv(folder / "ml-100k.inter", sep="\t")
        inter.columns = ["user_id", "item_id", "rating", "timestamp"]
        return from_raw_events(inter, name="ml-100k")
    return load_ratings(folder)


def test_ml100k_table_counts(ml100k_analysis: tuple[dict, Path, float]):
    stats, _, _ = ml100k_analysis
    table = format_summary_table(stats)
    lines = {line.split("  ")[1].strip(): line for line in table.splitlines() if "  " in line}
    assert lines["users"].split()[-1] == "943"
    assert "1,682" in lines["items"]
    assert lines["ratings"].split()[-1] == "100,000"
    assert "6.305 %" in lines["density"]  # 100,000 / (943 * 1,682)
    assert "93.695 %" in lines["sparsity"]
    assert "34.2 %" in lines["rating 4"]  # 34,174 fours
    assert "20 / 737" in table  # every ML-100K user has 20..737 ratings
    assert "1997-09-20 to 1998-04-2" in table


def test_ml100k_files(ml100k_analysis: tuple[dict, Path, float]):
    stats, out, seconds = ml100k_analysis
    assert_valid_figures(out, list(FIGURE_NAMES))
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert (saved["num_users"], saved["num_items"], saved["num_events"]) == (943, 1682, 100_000)
    assert sum(saved["events_per_month"].values()) == 100_000
    assert 0.4 < saved["item_popularity"]["gini"] < 0.9  # a long tail, not uniform
    assert seconds < 15  # ~2 s alone; generous for a loaded shared machine


# ---------------------------------------------------------------------------- benchmark helpers
def test_markdown_table_formats_and_aligns():
    rows = [
        {"name": "load", "events": 100000, "seconds": 0.5, "note": None},
        {"name": "split", "events": 98114, "seconds": float("nan"), "note": "a|b"},
    ]
    assert markdown_table(rows, headers={"name": "stage"}) == "\n".join(
        [
            "| stage |  events | seconds | note |",
            "|-------|--------:|--------:|------|",
            "| load  | 100,000 |   0.500 | -    |",
            "| split |  98,114 |       - | a\\|b |",
        ]
    )


def test_benchmark_stages_time_memory_and_json(tmp_path: Path):
    bench = Benchmark("unit")
    with bench.stage("sleep", size=3) as result:
        time.sleep(0.05)
        result.extra["more"] = "x"
    with bench.stage("alloc"):
        block = np.ones(48 * 1024 * 1024 // 8)  # 48 MiB, touched
        block += 1
    del block
    with pytest.raises(RuntimeError), bench.stage("fails"):
        raise RuntimeError("boom")

    sleep, alloc, fails = bench.results
    assert 0.05 <= sleep.seconds < 1.0
    assert sleep.extra == {"size": 3, "more": "x"}
    assert all(r.peak_rss_mib > 0 for r in bench.results)
    if alloc.peak_rss_scope == "stage":  # Linux: peak reset per stage
        assert alloc.as_row()["peak_increase_mib"] >= 40
        assert sleep.as_row()["peak_increase_mib"] < 40
    assert fails.extra["error"] == "RuntimeError: boom"

    path = bench.save(root=tmp_path / "bench", note="hi")
    assert path.parent == tmp_path / "bench"
    assert path.name.startswith("unit__") and path.suffix == ".json"
    payload = json.loads(path.read_text())
    assert payload["benchmark"] == "unit" and payload["note"] == "hi"
    assert [s["name"] for s in payload["stages"]] == ["sleep", "alloc", "fails"]
    assert payload["stages"][0]["size"] == 3
    assert payload["environment"]["cpu_count"] == os.cpu_count()
    assert "| sleep " in bench.table() and "| stage " in bench.table()
    assert bench.save(root=tmp_path / "bench") != path  # same second: a new file, not overwritten


def test_write_json_atomic_converts_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "out" / "r.json"
    write_json_atomic({"a": np.int64(3), "b": np.arange(2), "c": math.inf, "p": Path("x")}, target)
    assert json.loads(target.read_text()) == {"a": 3, "b": [0, 1], "c": None, "p": "x"}

    def broken_replace(src: str, dst: Path) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(DataError, match=f"cannot write {target}: disk gone"):
        write_json_atomic({"a": 4}, target)
    assert json.loads(target.read_text())["a"] == 3  # the old result is intact
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_result_path_and_name_checks(tmp_path: Path):
    from datetime import datetime

    when = datetime(2024, 5, 6, 7, 8, 9)
    assert result_path("data", tmp_path, when) == tmp_path / "data__20240506-070809.json"
    with pytest.raises(ValueError, match="'../x'"):
        Benchmark("../x")


def test_bench_data_script_on_ml100k(ml100k_path: Path, tmp_path: Path, capsys):
    script = runpy.run_path(str(SCRIPT))  # not as __main__: call main() with arguments
    code = script["main"](
        ["--presets", "", "--ml100k", str(ml100k_path), "--out", str(tmp_path)]
        + ["--skip-export-over", "1000"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| ml-100k | 943 | 1,682 | 100,000 | 98,114 | 98,114 |" in re.sub(r" +", " ", printed)
    assert "export skipped" in printed
    results = list(tmp_path.glob("data__*.json"))
    assert len(results) == 1 and not list(tmp_path.glob(".export-*"))
    payload = json.loads(results[0].read_text())
    stages = {s["name"]: s for s in payload["stages"]}
    assert list(stages) == ["load", "split", "graph"]
    assert stages["load"]["size"] == 100_000
    assert stages["split"]["size"] == 100_000 - 2 * 943  # every user has >= 20 ratings
    assert stages["graph"]["size"] == 98_114  # no repeated pair: one edge per train event
    assert payload["datasets"][0]["flat_edges"] == 2 * 98_114
