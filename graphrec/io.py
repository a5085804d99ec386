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


def check_writable(path: Path, *, folder: bool = False, what: str = "output") -> Path:
    """Check, before any work and without leaving anything behind, that ``path`` can be written.

    ``path`` is a file (or, with ``folder``, a folder) that may not exist yet; its nearest
    existing ancestor must be a folder that accepts new files, which is tested by creating and
    removing a temporary file there (permission bits say nothing for root, nor on read-only or
    virtual file systems such as ``/proc``).

    Raises:
        DataError: naming the path and why it cannot be written.
    """
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise DataError(f"{what} folder {path} is a file")
        if not folder and path.is_dir():
            raise DataError(f"{what} file {path} is a folder")
        if not folder and not os.access(path, os.W_OK):
            raise DataError(f"{what} file {path} is not writable")
    probe = path if folder else path.parent
    probe = probe.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"cannot write {what} {path}: {probe} is not a folder")
    try:
        handle, name = tempfile.mkstemp(dir=probe, prefix=".graphrec-probe-")
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DataError(
            f"cannot write {what} {path}: {probe} does not accept files ({reason})"
        ) from None
    os.close(handle)
    os.unlink(name)
    return path


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
