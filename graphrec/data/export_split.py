"""The project's exact leave-one-out split as files another library can train and test on.

Why: a peer compared "on the same data" but with its own split is not compared user for user.
RecBole reads pre-split data through ``benchmark_filename``: ``<name>.train.inter``,
``<name>.valid.inter`` and ``<name>.test.inter`` in one folder, used as given. This writes those
three files (each user's events in the split's time order; the one valid and one test event per
evaluated user), the item and user files, and a ``recbole.yaml`` that points RecBole at them.

RecBole itself stays out of graphrec's dependencies; the README shows the command to run.
"""

from __future__ import annotations

from pathlib import Path

from graphrec.data.sources.recbole import write_atomic, write_inter
from graphrec.data.split import Split
from graphrec.io import write_text

PARTS = ("train", "valid", "test")
RECBOLE_CONFIG = """\
# RecBole config for graphrec's split (graphrec data export-split --format recbole)
data_path: {parent}
dataset: {name}
benchmark_filename: [train, valid, test]   # the three files, used as given (no re-split)
load_col:
  inter: [user_id, item_id, rating{timestamp}]
USER_ID_FIELD: user_id
ITEM_ID_FIELD: item_id
{time_field}MAX_ITEM_LIST_LENGTH: {max_len}
eval_args:
  order: {order}
  mode: full                               # full ranking, as graphrec evaluates
metrics: [Hit, NDCG, MRR]
topk: [10]
valid_metric: NDCG@10
"""


def export_split_recbole(split: Split, folder: Path, name: str, max_len: int = 50) -> list[Path]:
    """Write ``split`` for RecBole; returns the paths written (three ``.inter`` files first).

    Args:
        split: the split graphrec trains and evaluates on.
        folder: the dataset folder (RecBole's ``data_path/dataset``); created if needed.
        name: the dataset name (file stem and RecBole's ``dataset``).
        max_len: history length for RecBole's sequential models (graphrec's ``data.max_len``).
    """
    folder = Path(folder)
    write_atomic(split.ratings, folder, name)  # .item / .user (and the whole .inter)
    paths = [
        write_inter(getattr(split, part), split.ratings, folder / f"{name}.{part}.inter")
        for part in PARTS
    ]
    timed = split.ratings.has_timestamps
    config = RECBOLE_CONFIG.format(
        parent=folder.parent.absolute(),
        name=name,
        timestamp=", timestamp" if timed else "",
        time_field="TIME_FIELD: timestamp\n" if timed else "",
        max_len=max_len,
        order="TO" if timed else "RO",
    )
    paths.append(write_text(folder / "recbole.yaml", config))
    return paths
