"""The `nngraph` command. Heavy modules are imported inside commands so `check` starts fast.

Exit codes: 0 ok, 1 spec or data error, 2 usage error. Errors print as `file:line:col: error: ...`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from nngraph import __version__
from nngraph.errors import NngraphError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Declarative neural networks: check, inspect, draw, train and run .nn specs.")

BACKEND = typer.Option("numpy", "--backend", help="numpy (CPU) or cupy (GPU)")
DTYPE = typer.Option("float32", "--dtype", help="float32 or float64")
SET = typer.Option(None, "--set", help="override a train setting: --set epochs=5")
TRAIN = typer.Option(None, "--train", help="which train block, when the spec has several")


def _version(value: bool):
    if value:
        typer.echo(f"nngraph {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")):
    pass


def _fail(err: NngraphError, warnings=()) -> None:
    from nngraph.render import render_error

    typer.echo(render_error(err, warnings=warnings), err=True)
    raise typer.Exit(1)


def _warn(checked) -> None:
    from nngraph.render import render_diagnostic

    for w in checked.warnings:
        typer.echo(render_diagnostic(w, {}), err=True)


def _load(spec: Path, overrides=None, train=None):
    from nngraph.api import load

    checked = load(spec, overrides or [], train)
    _warn(checked)
    return checked


@app.command()
def check(specs: List[Path] = typer.Argument(..., help="spec files (.nn, .yaml)")):
    """Check specs: print a one-line summary per model, or every error found."""
    from nngraph.check_files import check_files

    code = check_files(specs)
    if code:
        raise typer.Exit(code)


@app.command()
def inspect(spec: Path = typer.Argument(..., help="spec file")):
    """A table per model: units, roles, shapes, activations, inputs, parameters, FLOPs."""
    from nngraph.inspect_table import print_tables

    print_tables(_load(spec))


@app.command()
def viz(spec: Path = typer.Argument(..., help="spec file"),
        output: Path = typer.Option(..., "-o", "--output", help="FILE.svg, FILE.png or FILE.dot"),
        unroll: Optional[int] = typer.Option(None, "--unroll", min=1, help="unroll recurrence over T steps"),
        model: Optional[str] = typer.Option(None, "--model", help="draw only this model")):
    """Draw the models of a spec (SVG and PNG need no graphviz)."""
    from nngraph.viz import draw_models

    checked = _load(spec)
    models = [m for m in checked.models.values() if model is None or m.name == model]
    if not models:
        from nngraph.errors import ValidationError, did_you_mean

        raise ValidationError(f"no model named '{model}'", None, did_you_mean(model, checked.models))
    draw_models(models, output, unroll=unroll)
    typer.echo(f"wrote {output}")


@app.command()
def convert(spec: Path = typer.Argument(..., help="spec file (.nn or .yaml)"),
            output: Path = typer.Option(..., "-o", "--output", help="OUT.nn or OUT.yaml")):
    """Turn a .nn spec into YAML or back (the same AST either way)."""
    from nngraph.atomic import atomic_write_text
    from nngraph.spec.load import convert as convert_spec
    from nngraph.spec.load import load_spec, surface_of

    text = convert_spec(load_spec(spec), surface_of(output))
    atomic_write_text(output, text)
    typer.echo(f"wrote {output}")


@app.command()
def train(spec: Path = typer.Argument(..., help="spec file"),
          out: Optional[Path] = typer.Option(None, "--out", help="run folder (default: runs/NAME-TIME)"),
          resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder"),
          backend: str = BACKEND, dtype: Optional[str] = typer.Option(None, "--dtype"),
          overrides: Optional[List[str]] = SET, train_name: Optional[str] = TRAIN,
          json_out: bool = typer.Option(False, "--json", help="print summary.json to stdout"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
          threads: Optional[int] = typer.Option(None, "--threads", min=1, max=1024,
                                                help="threads for the BLAS and the compiled kernels "
                                                     "(default: the cores free when training starts)")):
    """Train a spec; writes metrics.jsonl, summary.json, checkpoint.npz and curves.png."""
    from nngraph.session import run_training

    checked = _load(spec, overrides, train_name)
    summary = run_training(checked, train_name, out=out, resume=resume, backend=backend, dtype=dtype,
                           quiet=quiet or json_out, threads=threads)
    _print_summary(summary, json_out)


def _print_summary(summary: dict, json_out: bool) -> None:
    import json

    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    final = {k: v for k, v in summary.get("final", {}).items() if isinstance(v, float)}
    shown = "  ".join(f"{k} {v:.4g}" for k, v in final.items())
    stop = " (stopped early)" if summary.get("stopped_early") else ""
    best = f", best epoch {summary['best_epoch']} restored" if summary.get("best_epoch") else ""
    typer.echo(f"{summary['epochs_run']} epochs{stop}{best} in {summary['wall_time_s']:.1f}s")
    typer.echo(f"  {shown}")
    typer.echo(f"run folder: {summary['run_dir']}")


@app.command("eval")
def evaluate(spec: Path = typer.Argument(..., help="spec file"),
             checkpoint: Path = typer.Option(..., "--checkpoint", help="checkpoint.npz of a run"),
             data: Optional[str] = typer.Option(None, "--data", help="a data set, as in the spec: digits"),
             backend: str = BACKEND, overrides: Optional[List[str]] = SET, train_name: Optional[str] = TRAIN,
             json_out: bool = typer.Option(False, "--json")):
    """Evaluate a trained checkpoint on the spec's test split (or on --data)."""
    import json

    from nngraph.session import run_evaluation

    overrides = list(overrides or []) + ([f"data={data}"] if data else [])
    metrics = run_evaluation(_load(spec, overrides, train_name), train_name, checkpoint, backend=backend)
    if json_out:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        for split, values in metrics.items():
            typer.echo(f"{split}: " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()))


@app.command()
def predict(spec: Path = typer.Argument(..., help="spec file"),
            checkpoint: Path = typer.Option(..., "--checkpoint"),
            input_path: Path = typer.Option(..., "--input", help="inputs as .npy"),
            output: Path = typer.Option(..., "-o", "--output", help="outputs as .npy"),
            unit: Optional[str] = typer.Option(None, "--unit", help="which unit to output (default: the output)"),
            backend: str = BACKEND, train_name: Optional[str] = TRAIN):
    """Run a trained model forward on inputs from a .npy file."""
    from nngraph.session import run_prediction

    shape = run_prediction(_load(spec, None, train_name), train_name, checkpoint, input_path, output,
                           unit=unit, backend=backend)
    typer.echo(f"wrote {output} {list(shape)}")


@app.command()
def sample(spec: Path = typer.Argument(..., help="spec file"),
           checkpoint: Path = typer.Option(..., "--checkpoint", help="checkpoint.npz of a run"),
           output: Optional[Path] = typer.Option(None, "-o", "--output", help="PNG grid, .npy or .txt"),
           count: int = typer.Option(64, "-n", "--count", min=1, max=100_000, help="how many samples"),
           prime: Optional[str] = typer.Option(None, "--prime", help="text to start a character model"),
           length: int = typer.Option(200, "--length", min=1, help="characters to generate"),
           temperature: float = typer.Option(1.0, "--temperature", min=1e-6, help="softmax temperature"),
           fill: Optional[str] = typer.Option(None, "--fill",
                                              help="fill in missing data: top, bottom, left, right or MASK.npy"),
           steps: int = typer.Option(1000, "--steps", min=1, help="Gibbs sweeps for Boltzmann machines"),
           seed: int = typer.Option(0, "--seed", min=0),
           backend: str = BACKEND, train_name: Optional[str] = TRAIN):
    """Generate from a trained model: text, images, 2-D points, or fill-ins, as the model allows."""
    from nngraph.session import run_sampling

    request = dict(output=output, count=count, prime=prime, length=length, temperature=temperature,
                   fill=fill, steps=steps, seed=seed)
    typer.echo(run_sampling(_load(spec, None, train_name), train_name, checkpoint, request, backend=backend))


def main() -> None:
    """Entry point: every NngraphError becomes a positioned message and exit code 1."""
    try:
        code = app(standalone_mode=False)
    except NngraphError as e:
        from nngraph.render import render_error

        typer.echo(render_error(e, warnings=getattr(e, "warnings", [])), err=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.exceptions.TyperException as e:  # usage errors: click's message, exit 2
        e.show()
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # noqa: BLE001 - the last line of defence against a traceback
        typer.echo(f"internal error: {type(e).__name__}: {e}\n  hint: this is a bug in nngraph; "
                   "please report it with the spec that caused it", err=True)
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
