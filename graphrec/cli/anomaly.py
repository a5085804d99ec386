"""``graphrec anomaly``: inject, build the two-step task, detect, fit/predict, evaluate."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from graphrec.cli.checks import DetectorMode, output_file, output_folder
from graphrec.cli.state import SourceOption, TrustFileOption, root_seed, use_trust
from graphrec.tables import fix_ordinals

if TYPE_CHECKING:
    from graphrec.anomaly.detectors import Detector
    from graphrec.anomaly.files import Labels
    from graphrec.data.ratings import Ratings

app = typer.Typer(
    help="Anomalous accounts: inject, build the two-step task, detect and evaluate.",
    no_args_is_help=True,
)
log = logging.getLogger(__name__)

RatingsOption = Annotated[
    Path, typer.Option("--ratings", help="Ratings file: user_id,item_id,rating[,timestamp].")
]
LabelsOption = Annotated[
    Path | None, typer.Option("--labels", help="Labels file: user_id,label[,type].")
]
ModeOption = Annotated[
    DetectorMode, typer.Option(help="Detector family (auto: chosen from the labels given).")
]
PretrainedOption = Annotated[
    Path | None,
    typer.Option(
        help="A detector saved by `fit` on step-1 data: the supervised part of a "
        "semi-supervised detector (step 2)."
    ),
]
ContaminationOption = Annotated[
    float | None,
    typer.Option(
        help="Share of anomalous accounts, when you know it. Omitted: estimated from the labels "
        "(their positive rate, raised when the detector finds more unlabeled accounts that score "
        "like anomalies, or a PU estimate when only anomalies are labeled); 0.07 without labels."
    ),
]
NoTimeOption = Annotated[
    bool, typer.Option("--no-time", help="Ignore timestamps even when the file has them.")
]
SimulateOption = Annotated[
    bool,
    typer.Option(
        "--simulate/--no-simulate",
        help="Semi-supervised mode: also train on simulated attacks of the literature's "
        "families, planted into the ratings (a few seconds per family copy on ML-100K).",
    ),
]


@app.command()
def inject(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Output folder.")],
    source: SourceOption = "synthetic:ml-100k",
    step: Annotated[int, typer.Option(help="1: step-1 types; 2: plus the step-2-only types.")] = 1,
    anonymize: Annotated[bool, typer.Option(help="Random account ids.")] = False,
) -> None:
    """Inject labeled anomalies: ratings.csv, events.csv (row labels), accounts.csv, targets.csv."""
    import dataclasses

    from graphrec.anomaly.inject import inject as run_inject
    from graphrec.anomaly.inject import step1_config, step2_config
    from graphrec.anomaly.task import ratings_frame, write_csv
    from graphrec.data.load import load_ratings

    _check_step(step)
    output_folder(out, "--out")
    seed = root_seed(ctx)
    ratings = load_ratings(source, seed=seed)
    config = step1_config() if step == 1 else step2_config()
    result = run_inject(ratings, dataclasses.replace(config, anonymize_ids=anonymize), seed=seed)
    frame = ratings_frame(result.ratings)
    events = result.events
    order = np.lexsort((np.arange(len(events)), events["timestamp"].to_numpy()))
    labeled = frame.copy()
    for column in ("label", "type", "model", "role"):
        labeled[column] = events[column].astype(str).to_numpy()[order]
    labeled["label"] = labeled["label"].astype(int)
    write_csv(frame, out / "ratings.csv")
    write_csv(labeled, out / "events.csv")
    write_csv(result.accounts, out / "accounts.csv")
    write_csv(result.targets, out / "targets.csv")
    typer.echo(result.summary().to_string())
    typer.echo(f"ratings.csv, events.csv, accounts.csv and targets.csv written to {out}")


@app.command("make-task")
def make_task_command(
    ctx: typer.Context,
    step: Annotated[int, typer.Option(help="1 (all labeled) or 2 (few labels, new types).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    source: SourceOption = "synthetic:ml-100k",
    seed: Annotated[int | None, typer.Option(help="Seed (default: root --seed or 0).")] = None,
    timestamps: Annotated[
        bool, typer.Option(help="Keep the timestamp column (--no-timestamps drops it).")
    ] = True,
    test_share: Annotated[float, typer.Option(help="Step 1: held-out share.")] = 0.3,
    label_share: Annotated[float, typer.Option(help="Step 2: labeled share.")] = 0.1,
    public_share: Annotated[float, typer.Option(help="Public share of evaluation ids.")] = 0.3,
) -> None:
    """Build one step of the two-step task: ratings, labels, truth and public ids."""
    from graphrec.anomaly.task import make_task, summary, write_task
    from graphrec.data.load import load_ratings

    _check_step(step)
    for name, share in (("--test-share", test_share), ("--label-share", label_share)):
        if not 0.0 < share < 1.0:
            raise typer.BadParameter(f"must be in (0, 1), got {share}", param_hint=name)
    if not 0.0 <= public_share <= 1.0:
        raise typer.BadParameter(
            f"must be in [0, 1], got {public_share}", param_hint="--public-share"
        )
    output_folder(out, "--out")
    seed = root_seed(ctx) if seed is None else seed
    ratings = load_ratings(source, seed=seed)
    task = make_task(
        ratings,
        step,
        seed=seed,
        test_share=test_share,
        label_share=label_share,
        public_share=public_share,
    )
    write_task(task, out, timestamps=timestamps)
    typer.echo(summary(task).to_string())
    typer.echo(f"step {step}: ratings.csv, labels.csv, truth.csv and public.csv written to {out}")


@app.command()
def detect(
    ctx: typer.Context,
    ratings: RatingsOption,
    out: Annotated[Path, typer.Option(help="Predictions: user_id,score,label for every account.")],
    labels: LabelsOption = None,
    mode: ModeOption = "auto",
    pretrained: PretrainedOption = None,
    contamination: ContaminationOption = None,
    no_time: NoTimeOption = False,
    simulate: SimulateOption = True,
    trust_file: TrustFileOption = False,
) -> None:
    """Fit and predict in one go; the detector is chosen from the labels (see --mode)."""
    use_trust(trust_file)
    _check_options(mode, pretrained, contamination)
    output_file(out, "--out")
    from graphrec.anomaly.files import prediction_frame, write_predictions

    data, known = _load(ratings, labels)
    detector = _build(ctx, known, mode, pretrained, contamination, no_time, simulate)
    start = time.perf_counter()
    detector.fit(data, known.y, known.types)
    frame = prediction_frame(data, detector.decision_score_, detector.labels_)
    write_predictions(out, frame)
    typer.echo(f"detector: {fix_ordinals(detector.describe())}")
    typer.echo(
        f"{data.num_users:,} accounts, {known.num_labeled:,} labeled; "
        f"{int(frame['label'].sum()):,} flagged in {time.perf_counter() - start:.1f} s; "
        f"predictions written to {out}"
    )


@app.command()
def fit(
    ctx: typer.Context,
    ratings: RatingsOption,
    model: Annotated[Path, typer.Option("--model", help="Where to save the fitted detector.")],
    labels: LabelsOption = None,
    mode: ModeOption = "auto",
    pretrained: PretrainedOption = None,
    contamination: ContaminationOption = None,
    no_time: NoTimeOption = False,
    simulate: SimulateOption = True,
    trust_file: TrustFileOption = False,
) -> None:
    """Fit a detector and save it (predict with `graphrec anomaly predict`)."""
    use_trust(trust_file)
    _check_options(mode, pretrained, contamination)
    output_file(model, "--model")
    from graphrec.anomaly.files import save_detector

    data, known = _load(ratings, labels)
    detector = _build(ctx, known, mode, pretrained, contamination, no_time, simulate)
    detector.fit(data, known.y, known.types)
    save_detector(detector, model, ratings=str(ratings), labels=str(labels or ""))
    typer.echo(f"detector: {fix_ordinals(detector.describe())}")
    typer.echo(f"fitted on {data.num_users:,} accounts; saved to {model}")


@app.command()
def predict(
    ratings: RatingsOption,
    model: Annotated[Path, typer.Option("--model", help="A detector saved by `fit`.")],
    out: Annotated[Path, typer.Option(help="Predictions: user_id,score,label for every account.")],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Labels known on these ratings (default: those given at fit, by user id).",
        ),
    ] = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Score every account of a ratings file with a saved detector."""
    use_trust(trust_file)
    output_file(out, "--out")
    from graphrec.anomaly.files import load_detector, prediction_frame, write_predictions

    detector, _ = load_detector(model)
    data, known = _load(ratings, labels)
    start = time.perf_counter()
    y = known.y if labels is not None else None
    scores = detector.decision_function(data, y)
    flags = (scores >= detector.threshold_).astype(np.int64)
    write_predictions(out, prediction_frame(data, scores, flags))
    typer.echo(f"detector: {fix_ordinals(detector.describe())}")
    typer.echo(
        f"{data.num_users:,} accounts scored, {int(flags.sum()):,} flagged in "
        f"{time.perf_counter() - start:.1f} s; predictions written to {out}"
    )


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Option("--pred", help="Predictions file (user_id,score,label).")],
    truth: Annotated[Path, typer.Option(help="Truth file (user_id,label[,type][,split]).")],
    public: Annotated[
        Path | None, typer.Option(help="Public subset ids (user_id); reported separately.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """F1, precision, recall, PR-AUC, per-type recall and the confusion matrix."""
    output_file(json_out, "--json")
    from graphrec.anomaly.files import (
        evaluate_predictions,
        read_ids,
        read_predictions,
        read_truth,
    )
    from graphrec.eval.detection import format_report
    from graphrec.io import write_json

    reports = evaluate_predictions(
        read_predictions(pred),
        read_truth(truth),
        None if public is None else read_ids(public),
        pred_path=pred,
    )
    for name, report in reports.items():
        typer.echo(format_report(report, title=f"== {name} set =="))
        typer.echo("")
    if json_out is not None:
        write_json(json_out, reports)
        typer.echo(f"metrics written to {json_out}")


# ------------------------------------------------------------------------------- helpers
def _check_step(step: int) -> None:
    if step not in (1, 2):
        raise typer.BadParameter(f"step must be 1 or 2, got {step}", param_hint="--step")


def _check_options(mode: str, pretrained: Path | None, contamination: float | None) -> None:
    """The detector options that need no data, checked before anything is read."""
    if contamination is not None and not 0.0 < contamination <= 0.5:
        raise typer.BadParameter("must be in (0, 0.5]", param_hint="--contamination")
    if pretrained is not None:
        if mode not in ("auto", "semi-supervised"):
            raise typer.BadParameter("--pretrained goes with --mode semi-supervised or auto")
        if not pretrained.is_file():
            raise typer.BadParameter(f"{pretrained} does not exist", param_hint="--pretrained")


def _load(ratings_path: Path, labels_path: Path | None) -> tuple[Ratings, Labels]:
    from graphrec.anomaly.files import Labels, read_labels
    from graphrec.data.load import load_ratings

    data = load_ratings(ratings_path)
    if labels_path is None:
        empty = np.full(data.num_users, np.nan)
        return data, Labels(y=empty, types=np.full(data.num_users, "", dtype=object))
    return data, read_labels(labels_path, data)


def _build(
    ctx: typer.Context,
    known: Labels,
    mode: str,
    pretrained: Path | None,
    contamination: float | None,
    no_time: bool,
    simulate: bool = True,
) -> Detector:
    from graphrec.anomaly.detectors import (
        MODES,
        SEMI_SUPERVISED,
        SemiSupervisedDetector,
        choose_mode,
        make_detector,
        mode_inputs,
    )
    from graphrec.anomaly.files import load_detector

    if mode not in MODES:
        raise typer.BadParameter(f"mode must be one of {', '.join(MODES)}", param_hint="--mode")
    _check_options(mode, pretrained, contamination)
    seed = root_seed(ctx)
    use_time = False if no_time else None
    if pretrained is not None:
        base, _ = load_detector(pretrained)
        inputs = mode_inputs(SEMI_SUPERVISED, use_time=use_time, seed=seed)
        return SemiSupervisedDetector(
            pretrained=base, contamination=contamination, inputs=inputs, seed=seed
        )
    chosen = choose_mode(known.y) if mode == "auto" else mode
    inputs = mode_inputs(chosen, use_time=use_time, seed=seed)
    return make_detector(
        chosen, contamination=contamination, inputs=inputs, simulate=simulate, seed=seed
    )
