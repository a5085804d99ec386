"""Contention benchmark: a graphrec command on an idle CPU and beside busy processes.

Why: on a shared CPU, OpenMP threads that spin-wait take the time slices of the threads they wait
for (see :mod:`graphrec.threads`). This runs one command (default: ``graphrec attack extract
--budget 1000`` on a trained run) in four settings: idle and beside ``--busy`` processes running
``yes > /dev/null``, each with graphrec's default thread policy and with the library defaults it
replaced (``OMP_WAIT_POLICY=ACTIVE``: spinning threads). Wall seconds are the median of
``--repeats`` runs; the slowdown is busy / idle per policy.

    python scripts/bench_contention.py --run-dir RUN [--busy 2] [--repeats 2] [--budget 1000]

Prints a markdown table and writes ``runs/bench/contention__<time>.json``. Run it on an
otherwise quiet machine: it checks the load average first and records it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from graphrec.benchmark import environment_info, markdown_table, result_path, write_json_atomic

POLICIES = {
    "graphrec default (no spin)": {},
    "library default (spinning)": {"OMP_WAIT_POLICY": "ACTIVE"},
}


def timed_run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def busy_processes(count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(["yes"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a trained target run")
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the command")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget", type=int, default=1000)
    args = parser.parse_args()
    executable = str(Path(sys.executable).with_name("graphrec"))
    command = [executable, "attack", "extract", "--run-dir", str(args.run_dir)]
    command += ["--budget", str(args.budget)]
    load_before = os.getloadavg()[0]
    rows = []
    for policy, extra in POLICIES.items():
        env = {**os.environ, **extra}
        env.pop("OMP_NUM_THREADS", None)
        seconds = {}
        for busy in (0, args.busy):
            hogs = busy_processes(busy)
            try:
                seconds[busy] = statistics.median(
                    timed_run(command, env) for _ in range(args.repeats)
                )
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
        rows.append(
            {
                "policy": policy,
                "idle_s": seconds[0],
                f"busy{args.busy}_s": seconds[args.busy],
                "slowdown": seconds[args.busy] / seconds[0],
            }
        )
    print(f"command: {' '.join(command)}  (load average before: {load_before:.2f})")
    print(markdown_table(rows))
    path = write_json_atomic(
        {
            "benchmark": "contention",
            "command": command,
            "busy_processes": args.busy,
            "repeats": args.repeats,
            "load_average_before": load_before,
            "environment": environment_info(),
            "rows": rows,
        },
        result_path("contention"),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
