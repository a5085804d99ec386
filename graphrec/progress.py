"""Progress bars for long library steps, quiet unless the caller (the CLI) turns them on.

Library functions wrap their long loops in :func:`progress_bar`; a notebook or a test calling
them stays silent, and ``graphrec`` turns bars on (:func:`set_progress`) for terminals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_MODE: bool | None = False
"""True: always; False: never (library default); None: when stderr is a terminal."""


def set_progress(mode: bool | None) -> None:
    """Show bars always (True), never (False), or when stderr is a terminal (None)."""
    global _MODE
    _MODE = mode


def progress_enabled() -> bool | None:
    return _MODE


def progress_bar(
    iterable: Iterable[T] | None = None,
    *,
    total: float | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = False,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar that follows :func:`set_progress` (``disable``: tqdm's own switch)."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        disable=None if _MODE is None else not _MODE,
        dynamic_ncols=True,
        **kwargs,
    )


@contextmanager
def progress(mode: bool | None) -> Iterator[None]:
    """Temporarily :func:`set_progress` (tests, scripts)."""
    before = _MODE
    set_progress(mode)
    try:
        yield
    finally:
        set_progress(before)
