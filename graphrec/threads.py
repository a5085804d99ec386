"""Thread settings that hold up when the CPU is shared with other busy processes.

Why: PyTorch's OpenMP threads busy-wait (spin) at the end of every parallel region so the next
one starts fast. On a CPU shared with other work a spinning thread takes the time slice the thread
it waits for needs, and a program of many small operations (the extraction attack's oracle calls,
the surrogate's batches) spends most of its time spinning. Measured on the 2-core development
machine, ML-100K, ``graphrec attack extract --budget 1000``, three other processes already busy
(load average 5-7), with and without two extra ``yes > /dev/null``:

==============================================  ============  ===================
settings                                        no ``yes``    two ``yes``
==============================================  ============  ===================
library defaults (2 spinning threads)           32-40 s       242 s (57 s CPU)
``OMP_WAIT_POLICY=PASSIVE`` (2 threads)         12.0 s        29.8 s (7 s CPU)
``OMP_NUM_THREADS=1``                           11.4 s        39.2 s
passive + 1 thread                              -             36.9 s
==============================================  ============  ===================

The policy (:func:`prepare_environment` at import of :mod:`graphrec.cli`, then
:func:`apply_thread_policy` from the CLI's root callback):

1. no spin-waiting: ``OMP_WAIT_POLICY=PASSIVE`` (GNU and LLVM OpenMP: torch, MKL, scikit-learn)
   and ``KMP_BLOCKTIME=0`` (Intel OpenMP), set before those runtimes load (they read them once);
2. as many threads as CPUs this process may run on: the affinity mask
   (``os.sched_getaffinity``), capped by a cgroup CPU quota (containers), not the machine's
   core count;
3. one thread budget for every pool: torch's intra-op threads, the OpenMP and BLAS pools of
   NumPy, SciPy and scikit-learn (threadpoolctl for those already loaded, ``*_NUM_THREADS`` for
   those loaded later).

Variables the user has set are never overridden, except the thread counts by an explicit
``--threads N``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

NO_SPIN = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
"""Environment that stops OpenMP runtimes from busy-waiting (read when the runtime loads)."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""Thread counts read by OpenMP, MKL and OpenBLAS when they load."""
_USER_SET = {name: os.environ.get(name) for name in THREAD_VARIABLES}
"""The thread counts the user set before graphrec started (None = not set)."""


def prepare_environment() -> None:
    """Set the no-spin variables (:data:`NO_SPIN`) unless the user set them.

    Call before torch, NumPy or scikit-learn are imported: their runtimes read these variables
    once, when they load.
    """
    for name, value in NO_SPIN.items():
        os.environ.setdefault(name, value)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """CPUs allowed by a cgroup v2 quota (``"max 100000"`` = none), or None."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when the user set it, else :func:`available_cpus`."""
    given = (_USER_SET["OMP_NUM_THREADS"] or "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return available_cpus()


def apply_thread_policy(threads: int | None = None) -> int:
    """Give every thread pool the same budget: ``threads``, or :func:`default_threads`.

    Pools already loaded are set now (torch, threadpoolctl for OpenMP/BLAS); the environment
    carries the count to those loaded later. An explicit ``threads`` overrides the user's
    ``*_NUM_THREADS``; without it those are kept.

    Returns:
        the number of threads.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    count = default_threads() if threads is None else threads
    for name in THREAD_VARIABLES:
        if threads is not None or _USER_SET[name] is None:
            os.environ[name] = str(count)
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - ships with scikit-learn
        pass
    else:
        threadpool_limits(limits=count)
    log.debug("thread budget %d (wait policy %s)", count, os.environ.get("OMP_WAIT_POLICY"))
    return count
