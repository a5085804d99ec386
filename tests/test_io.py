"""Atomic output: the final name holds a whole file or the old one, with the usual mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graphrec import io
from graphrec.errors import DataError


def test_atomic_write_creates_folders_and_gives_the_usual_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    assert io.atomic_write(target, lambda tmp: tmp.write_bytes(b"\x00\x01")) == target
    assert target.read_bytes() == b"\x00\x01"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_failed_write_keeps_the_old_file_and_names_the_target(tmp_path: Path) -> None:
    target = io.write_text(tmp_path / "note.txt", "old")

    def fail(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(DataError, match="cannot write .*note.txt: disk full"):
        io.atomic_write(target, fail)
    with pytest.raises(KeyError):  # not an OSError: passed through unchanged
        io.atomic_write(target, lambda tmp: {}["missing"])
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["note.txt"]


def test_write_json_and_prepare_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = io.write_json(tmp_path / "m.json", {"p": Path("x"), "n": 3})
    assert path.read_text(encoding="utf-8") == '{\n  "p": "x",\n  "n": 3\n}\n'
    io.prepare_folder(tmp_path / "new")
    assert (tmp_path / "new").is_dir()
    # chmod cannot make a folder unwritable for root, so fake what os.access reports.
    monkeypatch.setattr(io.os, "access", lambda path, mode: False)
    with pytest.raises(DataError, match="new is not writable"):
        io.prepare_folder(tmp_path / "new")
