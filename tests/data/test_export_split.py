"""The exported split is the project's split: same train/valid/test events per user."""

from __future__ import annotations

from typer.testing import CliRunner

from graphrec.cli.app import app
from graphrec.data.load import load_ratings
from graphrec.data.sources.recbole import read_atomic
from graphrec.data.split import leave_one_out


def _per_user(frame, ratings):
    users, items = ratings.user_ids, ratings.item_ids
    out: dict[str, list[str]] = {}
    for user, item in frame[["user", "item"]].itertuples(index=False):
        out.setdefault(str(users[user]), []).append(str(items[item]))
    return out


def test_export_split_reproduces_the_split(tiny_dataset_dir, tmp_path):
    out = tmp_path / "tiny-split"
    result = CliRunner().invoke(
        app, ["data", "export-split", "--source", str(tiny_dataset_dir), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    split = leave_one_out(load_ratings(str(tiny_dataset_dir)))
    for part in ("train", "valid", "test"):
        exported = read_atomic(out / f"tiny-split.{part}.inter")
        expected = _per_user(getattr(split, part), split.ratings)
        # read_atomic re-sorts nothing: the file's row order is the split's time order
        got = _per_user(exported.events.sort_index(), exported)
        assert got == expected, part
    config = (out / "recbole.yaml").read_text()
    assert "benchmark_filename: [train, valid, test]" in config and "dataset: tiny-split" in config
