"""The ``graphrec`` console command: a root callback for global options and one sub-app per job.

Commands stay thin (load config, apply overrides, call the library). Library errors
(:class:`~graphrec.errors.GraphrecError`) and usage errors (a bad option value, a missing option)
are caught once, here, and printed as one line, exit code 2, without a traceback.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from graphrec.cli import anomaly as anomaly_cli
from graphrec.cli import data as data_cli
from graphrec.cli import demo as demo_cli
from graphrec.cli import evaluate as evaluate_cli
from graphrec.cli import graph as graph_cli
from graphrec.cli import security as security_cli
from graphrec.cli import train as train_cli
from graphrec.cli import use as use_cli
from graphrec.cli.checks import device_callback
from graphrec.cli.state import RootOptions
from graphrec.errors import GraphrecError
from graphrec.train.interrupt import TrainingInterrupted


class _ErrorReportingGroup(TyperGroup):
    """Reports usage and library errors as one ``error: ...`` line, exit code 2."""

    def make_context(self, info_name: str | None, args: list[str], **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, **extra)
        except UsageError as error:  # the root's own options
            _usage_exit(error)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:  # a sub-command's options, or raised by a command
            _usage_exit(error)
        except TrainingInterrupted as error:
            typer.echo(f"interrupted: {printable(str(error))}", err=True)
            raise typer.Exit(130) from error
        except GraphrecError as error:
            typer.echo(f"error: {printable(str(error))}", err=True)
            raise typer.Exit(2) from error
        except KeyboardInterrupt:
            typer.echo("interrupted (Ctrl-C)", err=True)
            raise typer.Exit(130) from None


def _usage_exit(error: UsageError) -> None:
    """One line naming the option and the problem, and where to look for help."""
    if isinstance(error, NoArgsIsHelpError):  # `graphrec attack`: the help is the answer
        raise error
    hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    message = " ".join(error.format_message().split()).replace("Value error, ", "")
    typer.echo(f"error: {printable(message)}{hint}", err=True)
    raise typer.Exit(2) from error


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``), so data quoted in an error cannot
    drive the terminal; newlines become spaces (one line)."""
    text = text.replace("\n", " ")
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


app = typer.Typer(
    cls=_ErrorReportingGroup,
    help="Bipartite user-item GNN: recommend, find anomalous accounts, resist extraction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(graph_cli.app, name="graph")
app.add_typer(anomaly_cli.app, name="anomaly")
app.command("train")(train_cli.train)
app.command("evaluate")(evaluate_cli.evaluate)
app.command("recommend")(use_cli.recommend)
app.command("interactive")(use_cli.interactive)
app.command("visualize")(evaluate_cli.visualize)
app.command("compare")(evaluate_cli.compare)
app.add_typer(security_cli.attack_app, name="attack")
app.add_typer(security_cli.defend_app, name="defend")
app.command("demo")(demo_cli.demo)


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    seed: Annotated[
        int | None, typer.Option(help="Global seed; overrides the config's `seed`.")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="auto, cpu, cuda or cuda:N; overrides `train.device`.", callback=device_callback
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Threads for torch, NumPy and scikit-learn together (default: the CPUs this "
            "process may use, or OMP_NUM_THREADS). Waiting threads never spin.",
        ),
    ] = None,
) -> None:
    """graphrec: one GNN encoder over the rating graph, three jobs."""
    from graphrec.progress import set_progress
    from graphrec.serialization import trust_files
    from graphrec.threads import apply_thread_policy

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    count = apply_thread_policy(threads)
    trust_files(False)  # only a command's own --trust-file allows pickles
    set_progress(None)  # bars on long steps when stderr is a terminal
    ctx.obj = RootOptions(verbose=verbose, seed=seed, device=device, threads=count)


def main() -> None:
    app()
