"""``graphrec attack`` and ``graphrec defend``: extraction attacks, GRO and SEAT."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from graphrec.cli.checks import Strategy, output_file, output_folder, run_folder
from graphrec.cli.state import (
    ConfigOption,
    SetOption,
    TrustFileOption,
    resolve_config,
    use_trust,
)
from graphrec.tables import metrics_table

log = logging.getLogger(__name__)

attack_app = typer.Typer(
    help="Black-box model extraction against a trained run.", no_args_is_help=True
)
defend_app = typer.Typer(help="GRO training defense and SEAT detection.", no_args_is_help=True)

RunDirOption = Annotated[Path, typer.Option(help="The target: a run folder of `graphrec train`.")]
BudgetOption = Annotated[int, typer.Option(min=1, help="Oracle calls the attacker may make.")]
StrategyOption = Annotated[Strategy, typer.Option(help="How the attacker builds its queries.")]
KOption = Annotated[int, typer.Option(min=1, help="List length the oracle returns (100 or 10).")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the table as JSON.")]


def _attack_config(budget: int, strategy: str, k: int, length: int, seed: int):
    from graphrec.security.extraction import ExtractionConfig

    return ExtractionConfig(budget=budget, strategy=strategy, k=k, length=length, seed=seed)


@attack_app.command("extract")
def extract(
    run_dir: RunDirOption,
    budget: BudgetOption = 10_000,
    strategy: StrategyOption = "autoregressive",
    k: KOption = 100,
    length: Annotated[int, typer.Option(min=1, help="Items per synthetic query sequence.")] = 30,
    seed: Annotated[int, typer.Option(help="The attacker's seed.")] = 0,
    json_out: JsonOption = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Extract the target through its oracle; print Agreement@1/10, surrogate NDCG@10, success."""
    use_trust(trust_file)
    run_folder(run_dir)
    output_file(json_out, "--json")
    from graphrec.io import write_json
    from graphrec.security.extraction import run_extraction
    from graphrec.security.oracle import load_oracle

    oracle, split = load_oracle(run_dir)
    evaluator, _ = load_oracle(run_dir)  # the defender's own queries, not the attacker's budget
    result = run_extraction(
        oracle, split, _attack_config(budget, strategy, k, length, seed), eval_oracle=evaluator
    )
    typer.echo(metrics_table({f"{strategy} attack": result.metrics}))
    if json_out is not None:
        write_json(json_out, result.metrics)


@attack_app.command("evaluate")
def evaluate(
    run_dir: RunDirOption,
    defended: Annotated[
        list[Path] | None, typer.Option(help="GRO run folders (`graphrec defend gro --out`).")
    ] = None,
    budgets: Annotated[
        str, typer.Option(help="Comma-separated oracle-call budgets.")
    ] = "2000,10000",
    strategy: StrategyOption = "autoregressive",
    k: KOption = 100,
    json_out: JsonOption = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Agreement@10 against budget, for the target and any defended versions of it."""
    use_trust(trust_file)
    run_folder(run_dir)
    for path in defended or []:
        run_folder(path, "--defended")
    points = [int(b) for b in _floats(budgets, "--budgets")]
    if not points or min(points) < 1:
        raise typer.BadParameter("budgets must be >= 1", param_hint="--budgets")
    output_file(json_out, "--json")
    from graphrec.io import write_json
    from graphrec.security.extraction import agreement_curve
    from graphrec.security.oracle import Oracle
    from graphrec.security.report import load_defended
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir)
    models = {"undefended": model}
    models.update({f"GRO {path.name}": load_defended(path, split) for path in defended or []})
    rows = {}
    for label, candidate in models.items():
        curve = agreement_curve(
            Oracle(candidate, max_len=config.data.max_len),
            split,
            points,
            _attack_config(1, strategy, k, 30, 0),
            eval_oracle=Oracle(candidate, max_len=config.data.max_len),
        )
        for point in curve:
            rows[f"{label} @ {int(point['oracle_calls'])} calls"] = point
    typer.echo(metrics_table(rows))
    if json_out is not None:
        write_json(json_out, rows)


@defend_app.command("gro")
def gro(
    run_dir: RunDirOption,
    out: Annotated[Path, typer.Option(help="Folder for the defended model's checkpoints.")],
    lamb: Annotated[
        float, typer.Option("--lambda", min=0.0, help="Weight of the swap loss.")
    ] = 0.1,
    epochs: Annotated[int, typer.Option(min=1, help="GRO fine-tuning epochs.")] = 5,
    min_utility: Annotated[
        float,
        typer.Option(
            min=0.0, help="Keep the last epoch with this share of the served valid NDCG@10."
        ),
    ] = 0.95,
    trust_file: TrustFileOption = False,
) -> None:
    """Fine-tune the target with GRO (Zhang et al., WSDM 2024); print utility preservation."""
    use_trust(trust_file)
    run_folder(run_dir)
    output_folder(out, "--out")
    from graphrec.eval.ranking import evaluate as evaluate_ranking
    from graphrec.models.factory import ModelSpec
    from graphrec.security.gro import GROConfig, train_gro
    from graphrec.security.served import served_model_metrics
    from graphrec.train.checkpoint import load_checkpoint
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir)
    spec = ModelSpec(**load_checkpoint(Path(run_dir) / "best.pt")["model_spec"])
    gro_config = GROConfig(
        lamb=lamb,
        epochs=epochs,
        min_valid_utility=min_utility,
        max_len=config.data.max_len,
        seed=config.seed,
    )
    log.info("evaluating the undefended target")
    target = evaluate_ranking(model, split, "test", max_len=config.data.max_len)
    target["served_ndcg@10"] = served_model_metrics(
        model, split, "test", max_len=config.data.max_len
    )["ndcg@10"]
    log.info("GRO fine-tuning: %d epoch(s), lambda %g", epochs, lamb)
    result = train_gro(gro_config, split, spec, init_state=model.state_dict(), run_dir=out)
    typer.echo(metrics_table({"undefended": target, f"GRO lambda={lamb:g}": result.test}))
    typer.echo(
        f"utility preservation {result.test['ndcg@10'] / target['ndcg@10']:.3f} (user-fused), "
        f"{result.test['served_ndcg@10'] / target['served_ndcg@10']:.3f} (served); "
        f"epoch {result.best_epoch} chosen on validation; saved in {out}"
    )


@defend_app.command("seat")
def seat(
    run_dir: RunDirOption,
    budget: BudgetOption = 10_000,
    strategy: StrategyOption = "autoregressive",
    k: KOption = 100,
    json_out: JsonOption = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Fit SEAT and the query-stream detector on benign replays; score them at matched volume."""
    use_trust(trust_file)
    run_folder(run_dir)
    output_file(json_out, "--json")
    from graphrec.io import write_json
    from graphrec.security.report import (
        SecurityReportConfig,
        detector_evaluation,
        fit_detectors,
    )
    from graphrec.security.report_format import volume_table
    from graphrec.train.trainer import load_trained

    model, split, config = load_trained(run_dir)
    report = SecurityReportConfig(attack=_attack_config(budget, strategy, k, 30, 0))
    max_len = config.data.max_len
    log.info("fitting SEAT and the query-stream detector on benign replays")
    detectors = fit_detectors(model, split, report, max_len=max_len, seed=config.seed)
    log.info("scoring attackers and benign users at matched volume")
    figures = detector_evaluation(
        model, split, detectors, report, max_len=max_len, seed=config.seed
    )
    typer.echo(volume_table(figures))
    if json_out is not None:
        write_json(json_out, figures)


@defend_app.command("report")
def report(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Option(help="Folder for every stage's runs.")],
    source: Annotated[str | None, typer.Option(help="Dataset (overrides data.source).")] = None,
    json_out: JsonOption = None,
    config_path: ConfigOption = None,
    overrides: SetOption = None,
    budget: BudgetOption = 10_000,
    strategy: StrategyOption = "autoregressive",
    k: KOption = 100,
    length: Annotated[int, typer.Option(min=1, help="Items per synthetic query sequence.")] = 30,
    lambdas: Annotated[str, typer.Option(help="GRO lambdas to sweep.")] = "0.01,0.1,1",
    gro_epochs: Annotated[int, typer.Option(min=1, help="GRO fine-tuning epochs per lambda.")] = 5,
    accounts: Annotated[
        str, typer.Option(help="Accounts the attack spreads its budget over (comma-separated).")
    ] = "1,5,20,50,100,200",
    volumes: Annotated[
        str, typer.Option(help="Queries per account of the matched-volume table.")
    ] = "25,50,100,200,500",
    target: Annotated[
        Path | None, typer.Option(help="Defend this trained run instead of training a target.")
    ] = None,
    trust_file: TrustFileOption = False,
) -> None:
    """Train, attack, GRO (chosen on validation), SEAT and stream detection at matched volume,
    and the detector-gated defense against attacks spread over many accounts."""
    use_trust(trust_file)
    config = resolve_config(ctx, config_path, overrides)
    if source is not None:
        config = replace(config, data=replace(config.data, source=source))
    grid = {
        "--lambdas": _floats(lambdas, "--lambdas"),
        "--accounts": _floats(accounts, "--accounts"),
        "--volumes": _floats(volumes, "--volumes"),
    }
    for option, values in grid.items():
        if not values or min(values) < (0 if option == "--lambdas" else 1):
            raise typer.BadParameter(f"{option} {values} out of range", param_hint=option)
    if target is not None:
        run_folder(target, "--target")
    output_folder(run_dir, "--run-dir")
    output_file(json_out, "--json")
    from graphrec.io import write_json
    from graphrec.security.report import SecurityReportConfig, security_report
    from graphrec.security.report_format import format_report

    settings = SecurityReportConfig(
        attack=_attack_config(budget, strategy, k, length, 0),
        lambdas=grid["--lambdas"],
        gro_epochs=gro_epochs,
        account_grid=tuple(int(x) for x in grid["--accounts"]),
        volumes=tuple(int(x) for x in grid["--volumes"]),
        target_run=target,
    )
    table = security_report(config, run_dir, settings)
    typer.echo(format_report(table))
    if json_out is not None:
        write_json(json_out, table)


def _floats(text: str, option: str | None = None) -> tuple[float, ...]:
    """Comma-separated numbers."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise typer.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=option
        ) from error
