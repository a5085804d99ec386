"""Small helpers every benchmark script shares: stage timing, peak memory, tables, JSON results.

A benchmark is a list of named stages (load, split, build, train, attack...). :class:`Benchmark`
times each stage with ``time.perf_counter`` and records the stage's peak resident memory, so the
scripts under ``scripts/bench_*.py`` all print the same markdown table and write the same JSON
layout under ``runs/bench/<name>__<time>.json``.

Peak memory: on Linux the kernel's high-water mark (``VmHWM``) is reset before each stage by
writing ``5`` to ``/proc/self/clear_refs``, so each stage reports its own peak RSS, not the
process's peak so far. Where that is not possible (other systems, restricted ``/proc``) the value
is ``getrusage``'s ``ru_maxrss``, a process-lifetime maximum, and the result says so
(``peak_rss_scope="process"``). Optionally ``tracemalloc`` adds the peak of Python-level
allocations (NumPy buffers included, PyTorch's allocator not), at a noticeable speed cost.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from graphrec.io import write_text

logger = logging.getLogger(__name__)

BENCH_ROOT = Path("runs") / "bench"
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MIB = 1024 * 1024


@dataclass
class StageResult:
    """One measured stage.

    Attributes:
        name: stage label (``"load"``, ``"split"``...).
        seconds: wall-clock time of the stage.
        peak_rss_mib: peak resident memory of the process during the stage (MiB).
        rss_before_mib: resident memory when the stage started (MiB), or None where unknown.
        peak_rss_scope: ``"stage"`` when the peak was reset before the stage, ``"process"`` when
            it is the process's peak so far.
        peak_traced_mib: peak of ``tracemalloc``-traced allocations (MiB), or None if not traced.
        extra: anything the script adds (sizes, file names, counts).
    """

    name: str
    seconds: float = math.nan
    peak_rss_mib: float = math.nan
    rss_before_mib: float | None = None
    peak_rss_scope: str = "process"
    peak_traced_mib: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """A flat dict for :func:`markdown_table` and JSON.

        Adds ``peak_increase_mib`` (peak minus the RSS at the start: what the stage itself
        needed on top of what was already resident) and merges ``extra`` in.
        """
        row = {k: v for k, v in asdict(self).items() if k != "extra"}
        row["peak_increase_mib"] = (
            None if self.rss_before_mib is None else self.peak_rss_mib - self.rss_before_mib
        )
        row.update(self.extra)
        return row


# ---------------------------------------------------------------------------- memory
def current_rss_mib() -> float | None:
    """Resident memory now (``VmRSS``), or None where ``/proc`` is unavailable."""
    return _status_field("VmRSS")


def peak_rss_mib() -> float:
    """Peak resident memory: ``VmHWM`` (resettable) on Linux, else ``ru_maxrss``."""
    value = _status_field("VmHWM")
    if value is not None:
        return value
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    return maxrss / _MIB if sys.platform == "darwin" else maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); True if it worked."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_field("VmHWM") is not None


def _status_field(key: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MiB, or None."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return None


# ---------------------------------------------------------------------------- timing
class Benchmark:
    """Collects :class:`StageResult` rows for one benchmark run.

    Example::

        bench = Benchmark("data")
        with bench.stage("load", dataset="ml-100k") as result:
            ratings = load_ratings(path)
            result.extra["events"] = ratings.num_events
        print(bench.table())
        bench.save()

    Args:
        name: benchmark name, used in the JSON file name.
        trace_python: also trace Python allocations with ``tracemalloc`` (default False: it
            slows allocation-heavy code down severalfold).
    """

    def __init__(self, name: str, *, trace_python: bool = False) -> None:
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise ValueError(f"benchmark name must be a plain file-name part, got {name!r}")
        self.name = name
        self.trace_python = trace_python
        self.results: list[StageResult] = []
        self.started = datetime.now()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, stages={len(self.results)})"

    @contextmanager
    def stage(self, name: str, **extra: Any) -> Iterator[StageResult]:
        """Time and measure the ``with`` block; the yielded result may take more ``extra``.

        A stage that raises is still recorded, with ``extra["error"]``, and the error propagates.
        """
        result = StageResult(name=name, extra=dict(extra))
        try:
            with measure(result, trace_python=self.trace_python):
                yield result
        except BaseException as error:
            result.extra["error"] = f"{type(error).__name__}: {error}"
            raise
        finally:
            self.results.append(result)
        logger.info("%s: %.3f s, peak RSS %.1f MiB", name, result.seconds, result.peak_rss_mib)

    def rows(self) -> list[dict[str, Any]]:
        return [r.as_row() for r in self.results]

    def table(
        self, columns: Sequence[str] | None = None, headers: Mapping[str, str] | None = None
    ) -> str:
        """The results as a markdown table (default columns: name, extra keys, time, memory)."""
        if columns is None:
            extra_keys: list[str] = []
            for result in self.results:
                extra_keys += [k for k in result.extra if k not in extra_keys]
            columns = ["name", *extra_keys, "seconds", "peak_rss_mib"]
        return markdown_table(self.rows(), columns, headers={"name": "stage", **(headers or {})})

    def save(self, root: Path = BENCH_ROOT, **metadata: Any) -> Path:
        """Write the results plus environment and ``metadata`` to ``root/<name>__<time>.json``."""
        payload = {
            "benchmark": self.name,
            "started": self.started.isoformat(timespec="seconds"),
            "environment": environment_info(),
            **metadata,
            "stages": self.rows(),
        }
        path = result_path(self.name, root=root, when=self.started)
        write_json_atomic(payload, path)
        return path


@contextmanager
def measure(result: StageResult, *, trace_python: bool = False) -> Iterator[StageResult]:
    """Fill ``result.seconds`` and the memory fields for the ``with`` block.

    The fields are filled even when the block raises, so a failing stage can still be reported.
    """
    scoped = reset_peak_rss()
    result.peak_rss_scope = "stage" if scoped else "process"
    result.rss_before_mib = current_rss_mib()
    started_tracing = trace_python and not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    elif trace_python:
        tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak_rss_mib = peak_rss_mib()
        if trace_python:
            result.peak_traced_mib = tracemalloc.get_traced_memory()[1] / _MIB
            if started_tracing:
                tracemalloc.stop()


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Bare wall-clock timer: ``with timed() as t: ...`` then ``t["seconds"]``."""
    box = {"seconds": math.nan}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


# ---------------------------------------------------------------------------- output
def markdown_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    floatfmt: str = ".3f",
) -> str:
    """Rows of dicts as a GitHub markdown table.

    Args:
        rows: one mapping per row; a missing key prints as an empty cell.
        columns: column order (default: keys in first-seen order).
        headers: display names of some columns (default: the keys themselves).
        floatfmt: format of floats (default ``".3f"``); ints get thousands separators, None and
            NaN print as ``-``.
    """
    if columns is None:
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
    titles = [(headers or {}).get(c, c) for c in columns]
    cells = [[_cell(row.get(c), floatfmt) for c in columns] for row in rows]
    widths = [max([len(t), *(len(r[i]) for r in cells)]) for i, t in enumerate(titles)]
    numeric = [
        all(_is_number(row.get(c)) for row in rows if row.get(c) is not None) and len(rows) > 0
        for c in columns
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if num else "-" * (w + 2)
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(titles), rule, *(line(r) for r in cells)])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any, floatfmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def result_path(name: str, root: Path = BENCH_ROOT, when: datetime | None = None) -> Path:
    """``root/<name>__<YYYYmmdd-HHMMSS>.json`` (the CleanRL-style ``name__time`` run name).

    A ``-1``, ``-2``... suffix is added when that file already exists.
    """
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}__{stamp}.json"
    counter = 1
    while path.exists():  # two runs within one second keep both results
        path = Path(root) / f"{name}__{stamp}-{counter}.json"
        counter += 1
    return path


def write_json_atomic(payload: Any, path: Path) -> Path:
    """Write ``payload`` as indented strict JSON, atomically (:func:`graphrec.io.write_text`).

    NaN and infinities become ``null``; NumPy scalars and arrays, paths and other objects are
    converted with :func:`to_jsonable`.
    """
    text = json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n"
    return write_text(path, text)


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars/arrays to Python, paths to str, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return to_jsonable(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def environment_info() -> dict[str, Any]:
    """Where the numbers were taken: Python, platform, CPUs and library versions, git commit."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    for module in ("numpy", "pandas", "torch", "torch_geometric"):
        loaded = sys.modules.get(module)
        if loaded is not None:
            info[module] = getattr(loaded, "__version__", "unknown")
    info["git_sha"] = _git_sha()
    return info


def _git_sha() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
