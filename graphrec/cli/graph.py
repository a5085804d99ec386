"""``graphrec graph``: build the bipartite rating graph and export it for graph tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from graphrec.cli.checks import ExportFormat, GraphSplit, input_file, output_file
from graphrec.cli.state import SourceOption, root_seed
from graphrec.errors import DataError

app = typer.Typer(help="Export the bipartite rating graph.", no_args_is_help=True)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Output file (csv/parquet: the stem of two tables).")],
    source: SourceOption = "synthetic:ml-100k",
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = "graphml",
    split: Annotated[
        GraphSplit,
        typer.Option(help="all: every event; train: the training split the models see."),
    ] = "all",
    users: Annotated[
        str | None, typer.Option(help="Comma-separated raw user ids: export their ego-nets.")
    ] = None,
    ego_hops: Annotated[int, typer.Option(min=0, help="Hops of the ego-nets.")] = 1,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="CSV user_id,score[,label,type] (e.g. anomaly predictions) as node attributes."
        ),
    ] = None,
    top_k_by: Annotated[
        str | None,
        typer.Option(help="Export the ego-nets of the top-k users by this score column."),
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="How many users --top-k-by keeps.")] = 50,
) -> None:
    """Write the graph as GraphML/GEXF (networkx), CSV/Parquet edge lists, or PyG/DGL files."""
    input_file(scores, "--scores")
    if top_k_by is not None and scores is None:
        raise typer.BadParameter("needs --scores", param_hint="--top-k-by")
    if fmt == "dgl":
        from importlib.util import find_spec

        if find_spec("dgl") is None:
            raise DataError("--format dgl needs DGL: pip install -e .[dgl]")
    output_file(out, "--out")
    from graphrec.data.load import load_ratings
    from graphrec.data.split import leave_one_out
    from graphrec.graph.export import export_graph
    from graphrec.graph.rating_graph import RatingGraph

    ratings = load_ratings(source, seed=root_seed(ctx))
    if split == "train":
        ratings = leave_one_out(ratings).train_ratings()
    graph = RatingGraph.from_ratings(ratings)
    chosen = None if users is None else [ratings.user_index(u.strip()) for u in users.split(",")]
    node_scores = None if scores is None else _read_scores(scores, ratings)
    summary = export_graph(
        graph,
        out,
        fmt,
        node_scores=node_scores,
        users=chosen,
        ego_hops=ego_hops,
        top_k_by=top_k_by,
        top_k=top_k,
    )
    files = " and ".join(str(path) for path in summary.paths)
    typer.echo(f"{summary.num_nodes:,} nodes and {summary.num_edges:,} edges written to {files}")


def _read_scores(path: Path, ratings) -> pd.DataFrame:
    """Map a predictions CSV keyed by raw user id onto contiguous user ids."""
    if not path.is_file():
        raise DataError(f"scores file not found: {path}")
    frame = pd.read_csv(path, dtype={"user_id": str})
    if "user_id" not in frame.columns or "score" not in frame.columns:
        raise DataError(f"{path}: needs columns user_id,score (has {list(frame.columns)})")
    frame["user"] = [ratings.user_index(u) for u in frame["user_id"]]
    return frame.drop(columns="user_id")
