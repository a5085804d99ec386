"""Atomic file output: write beside the target, then ``os.replace``.

An interrupted or failed write never leaves a truncated file under the final name, and an
unwritable folder or a failed write is reported as a :class:`~graphrec.errors.DataError` naming
it. Every module that writes results goes through :func:`atomic_write`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphrec.errors import DataError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check it can be written, before any output is produced.

    Raises:
        DataError: naming the folder when it cannot be created or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create output folder {folder}: {error}") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"output folder {folder} is not writable")


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then move it into place.

    The file gets the mode a plain ``open`` would give it (``mkstemp`` makes it ``0600``).

    Raises:
        DataError: naming the folder or the file when either cannot be written; the temporary
            file is removed on any failure.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise DataError(f"cannot write into {path.parent}: {error.strerror or error}") from error
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise DataError(f"cannot write {path}: {error}") from error
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """UTF-8 ``text``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, payload: Any) -> Path:
    """Indented JSON, atomically; NumPy scalars and other numbers become floats."""
    return write_text(path, json.dumps(payload, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return float(value)
