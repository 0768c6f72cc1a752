"""The typer app: the spec commands (check, fmt, inspect, viz, convert), and `run_app`, which turns their outcomes
into exit codes (`nngraph.cli.EXIT_CODES`). Heavy modules are imported inside the commands that need them."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from nngraph import __version__
from nngraph.cli import EXIT_OK, EXIT_USAGE, training
from nngraph.cli.command import CommandFailed, CommandInterrupted, PlainCommand, PlainGroup
from nngraph.cli.common import SOURCES, SPEC, load_spec
from nngraph.cli.render import render_error
from nngraph.errors import NngraphError, OutputError

app = typer.Typer(cls=PlainGroup, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Declarative neural networks: check, inspect, draw, train and run .nn specs.")


def command(name: str | None = None):
    return app.command(name, cls=PlainCommand)


def _version(value: bool):
    if value:
        typer.echo(f"nngraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")):
    pass


@command()
def check(specs: List[Path] = typer.Argument(..., metavar="SPEC...", help="spec files (.nn or .yaml)")):
    """Check specs: print a one-line summary per model, or every error found."""
    from nngraph.cli.check import check_files

    code = check_files(specs)
    if code:
        raise typer.Exit(code)


@command()
def fmt(specs: List[Path] = typer.Argument(..., metavar="SPEC...", help=".nn spec files"),
        check_only: bool = typer.Option(False, "--check",
                                        help="write nothing; list the files that would change, exit 1 if any")):
    """Rewrite .nn specs in the canonical layout, keeping every comment (--check: only report)."""
    from nngraph.cli.formatting import format_files

    code = format_files(specs, check=check_only)
    if code:
        raise typer.Exit(code)


@command()
def inspect(spec: Path = SPEC):
    """A table per model: units, roles, shapes, activations, inputs, parameters, FLOPs."""
    from nngraph.cli.tables import print_tables

    print_tables(load_spec(spec))


@command()
def viz(spec: Path = SPEC,
        output: Path = typer.Option(..., "-o", "--output", metavar="FILE",
                                    help="FILE.svg, FILE.png or FILE.dot (SVG and PNG need no graphviz)"),
        unroll: Optional[int] = typer.Option(None, "--unroll", min=1, metavar="T",
                                             help="unroll recurrence over T steps"),
        model: Optional[str] = typer.Option(None, "--model", metavar="NAME", help="draw only this model"),
        expand: bool = typer.Option(False, "--expand",
                                    help="draw every copy of a repeat= stack, not one box per stack")):
    """Draw the models of a spec."""
    from nngraph.viz import draw_models

    checked = load_spec(spec)
    models = [m for m in checked.models.values() if model is None or m.name == model]
    if not models:
        from nngraph.errors import ValidationError, did_you_mean

        raise ValidationError(f"no model named '{model}'", None, did_you_mean(model, checked.models))
    draw_models(models, output, unroll=unroll, expand=expand)
    typer.echo(f"wrote {output}")


@command()
def convert(spec: Path = SPEC,
            output: Path = typer.Option(..., "-o", "--output", metavar="FILE",
                                        help="OUT.nn or OUT.yaml (not the input itself)")):
    """Turn a .nn spec into YAML or back: the same AST either way, the comments kept (the layout is the
    target's canonical one)."""
    from nngraph.atomic import atomic_write_text
    from nngraph.spec.load import convert as convert_spec
    from nngraph.spec.load import READERS, load_commented, surface_of

    _refuse_same_file(spec, output)
    if output.suffix.lower() not in READERS:  # was a SourceError at output:1:1, a file nobody wrote (-o /dev/full)
        raise OutputError(f"cannot write {output}: a spec's name ends in {', '.join(READERS)}", None,
                          f"e.g. -o {spec.stem}{'.yaml' if spec.suffix.lower() == '.nn' else '.nn'}")
    source, comments = load_commented(spec)
    text = convert_spec(source, surface_of(str(output)), comments)
    atomic_write_text(output, text)
    typer.echo(f"wrote {output}")


def _refuse_same_file(source: Path, output: Path) -> None:
    """The converted text has no comments: writing it over its own source would lose them."""
    try:
        same = output.exists() and source.exists() and output.samefile(source)
    except OSError:
        same = False
    if same:
        raise OutputError(f"{output} is the input file; convert writes a new file and keeps the input",
                          None, "write to another name, e.g. -o " + output.with_stem(output.stem + "-converted").name)


for _name, _function in training.COMMANDS.items():
    command(_name)(_function)


def run_app() -> int:
    """Run the app on sys.argv; its exit code. Every NngraphError becomes a positioned message and exit code 1,
    a usage error click's message and 2; Ctrl-C and other exceptions go on to `nngraph.cli.run`."""
    SOURCES.clear()
    try:
        code = app(standalone_mode=False, prog_name="nngraph")
    except NngraphError as e:
        typer.echo(render_error(e, SOURCES, warnings=getattr(e, "warnings", [])), err=True)
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except (CommandInterrupted, typer.Abort):
        raise KeyboardInterrupt from None
    except CommandFailed as e:
        raise e.__cause__ from None
    except typer.exceptions.TyperException as e:  # usage errors: click's message, exit 2
        e.show()
        return getattr(e, "exit_code", EXIT_USAGE)
    return code if isinstance(code, int) else EXIT_OK
