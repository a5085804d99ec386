"""Scale benchmark: data, one training epoch and one full evaluation at ml-1m and ml-20m size.

For each synthetic preset (``--presets``): generating, splitting and building the graph (seconds
and peak memory), then one full training epoch and one full-ranking evaluation of every test user
with the training config (``--set`` overrides on the defaults), each timed with its peak memory
(resident memory on CPU, the allocator's peak on CUDA). ``--quality SOURCE`` (repeatable) also
trains the same config to early stopping on that data (the real ML-100K, ``synthetic:ml-1m``) and
reports test NDCG@10, the quality the speed must keep; ``--ddp N`` trains it on ``--ml100k`` with
``torchrun --nproc-per-node N`` (same global batch).

    python scripts/bench_scale.py [--presets ml-1m,ml-20m] [--device cpu]
        [--quality ../shared/data/ml-100k] [--ddp 2] [--set train.batch_size=1024 ...]

Prints one markdown table (preset, users, items, ratings, epoch s, eval s, peak memory,
processes, device) and writes ``runs/bench/scale__<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from graphrec.benchmark import Benchmark, markdown_table
from graphrec.config import load_config
from graphrec.data.load import load_ratings
from graphrec.data.split import leave_one_out
from graphrec.eval.ranking import evaluate
from graphrec.graph.rating_graph import RatingGraph
from graphrec.models.batch import iter_batches, training_sequences
from graphrec.train.trainer import build_for_split, model_spec, resolve_device, train

log = logging.getLogger("bench_scale")

COLUMNS = [
    "preset",
    "users",
    "items",
    "ratings",
    "data_s",
    "data_peak_mib",
    "epoch_s",
    "steps",
    "eval_s",
    "train_peak_mib",
    "ndcg@10",
    "processes",
    "device",
]


def peak_mib(device: torch.device, stage: Any) -> float:
    """The stage's peak memory: the CUDA allocator's on a GPU, resident memory otherwise."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return float(stage.peak_rss_mib)


def scale_row(
    preset: str,
    config_path: Path | None,
    overrides: list[str],
    device: torch.device,
    bench: Benchmark,
) -> dict:
    """Generate, split and graph one preset; time one training epoch and one full evaluation."""
    config = load_config(config_path, [f"data.source=synthetic:{preset}", *overrides])
    row: dict[str, Any] = {"preset": preset, "processes": 1, "device": str(device)}
    with bench.stage(f"{preset} data") as stage:
        ratings = load_ratings(config.data.source, seed=config.data.seed)
        split = leave_one_out(ratings, min_events=config.data.min_events)
        graph = RatingGraph.from_ratings(split.train_ratings())
        graph.edge_index()
    row.update(
        users=ratings.num_users,
        items=ratings.num_items,
        ratings=ratings.num_events,
        data_s=stage.seconds,
        data_peak_mib=stage.peak_rss_mib,
    )
    torch.manual_seed(config.seed)
    model = build_for_split(model_spec(config, split), split, config.graph.edge_weight, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    data = training_sequences(split, config.data.max_len)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    with bench.stage(f"{preset} epoch") as stage:
        steps = 0
        for batch in iter_batches(data, config.train.batch_size, shuffle=True):
            loss = model.calculate_loss(batch.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    row.update(epoch_s=stage.seconds, steps=steps, train_peak_mib=peak_mib(device, stage))
    with bench.stage(f"{preset} eval") as stage:
        metrics = evaluate(
            model,
            split,
            "test",
            batch_size=config.eval.batch_size,
            max_len=config.data.max_len,
            device=device,
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    row.update(eval_s=stage.seconds, eval_users=int(metrics["num_users"]))
    log.info("%s: %s", preset, row)
    return row


def quality_row(
    source: str, config_path: Path | None, overrides: list[str], device: str, bench: Benchmark
) -> dict:
    """The config trained to early stopping on ``source``, one process."""
    config = load_config(
        config_path, [f"data.source={source}", f"train.device={device}", *overrides]
    )
    with tempfile.TemporaryDirectory() as folder, bench.stage(f"{source} quality") as stage:
        result = train(config, Path(folder) / "run", progress=False)
    epochs = len(result.history)
    return {
        "preset": f"{source} (trained)",
        "users": result.split.num_users,
        "items": result.split.num_items,
        "ratings": result.split.ratings.num_events,
        "epoch_s": stage.seconds / max(epochs, 1),
        "steps": epochs,
        "ndcg@10": result.test["ndcg@10"],
        "processes": 1,
        "device": device,
    }


def ddp_row(ml100k: str, overrides: list[str], processes: int, bench: Benchmark) -> dict:
    """The same training under ``torchrun --nproc-per-node processes`` (global batch kept)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    with tempfile.TemporaryDirectory() as folder, bench.stage(f"ml-100k torchrun x{processes}"):
        run_dir = Path(folder) / "run"
        command = [
            str(torchrun),
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "graphrec",
            "--device",
            "cpu",
            "train",
            "--source",
            ml100k,
            "--run-dir",
            str(run_dir),
        ]
        for override in overrides:
            command += ["--set", override]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // processes))}
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = len(metrics["history"])
    return {
        "preset": f"{ml100k} (torchrun)",
        "epoch_s": seconds / max(epochs, 1),
        "steps": epochs,
        "ndcg@10": metrics["test"]["ndcg@10"],
        "processes": processes,
        "device": "cpu",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="ml-1m,ml-20m")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ml100k", default="../shared/data/ml-100k")
    parser.add_argument("--quality", action="append", default=[], help="train on this data too")
    parser.add_argument("--ddp", type=int, default=0, help="torchrun processes on ML-100K")
    parser.add_argument("--config", type=Path, help="a config file (default: the defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    device = resolve_device(args.device)
    bench = Benchmark("scale")
    rows = []
    for source in args.quality:
        rows.append(quality_row(source, args.config, args.overrides, args.device, bench))
    if args.ddp > 1:
        rows.append(ddp_row(args.ml100k, args.overrides, args.ddp, bench))
    for preset in [p for p in args.presets.split(",") if p]:
        rows.append(scale_row(preset, args.config, args.overrides, device, bench))
    described = [str(args.config)] if args.config else []
    print(f"\n## Scale ({', '.join(described + args.overrides) or 'default config'})\n")
    print(markdown_table(rows, COLUMNS))
    path = bench.save(args.out, rows=rows, config=args.config, overrides=args.overrides)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
