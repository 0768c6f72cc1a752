"""The commands around training: train, eval, predict, sample, export (registered on the app by `app.py`)."""

from __future__ import annotations

import shlex
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from nngraph.cli import EXIT_INTERRUPTED
from nngraph.cli.common import BACKEND, CHECKPOINT, SET, SOURCES, SPEC, TRAIN, load_spec
from nngraph.errors import plural


def train(spec: Path = SPEC,
          out: Optional[str] = typer.Option(None, "--out", metavar="DIR",
                                             help="run folder (default: runs/NAME-TIME); one that holds a run "
                                                  "already is refused unless --overwrite"),
          resume: Optional[str] = typer.Option(None, "--resume", metavar="DIR",
                                                help="continue the run in this folder from its checkpoint"),
          overwrite: bool = typer.Option(False, "--overwrite",
                                         help="replace the run in the --out folder (its metrics, checkpoint, "
                                              "summary and curves are deleted first)"),
          backend: str = BACKEND,
          dtype: Optional[str] = typer.Option(None, "--dtype", metavar="TYPE",
                                              help="float32 or float64; on --backend cupy also tf32 or "
                                                   "bfloat16: float32 values, matrix products at that precision "
                                                   "(default: the spec's `dtype`, else float32)"),
          overrides: Optional[List[str]] = SET, train_name: Optional[str] = TRAIN,
          json_out: bool = typer.Option(False, "--json", help="print summary.json to stdout, and no progress"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress on stderr"),
          threads: Optional[int] = typer.Option(None, "--threads", min=1, max=1024, metavar="N",
                                                help="threads for the BLAS and the compiled kernels "
                                                     "(default: the cores free when training starts)"),
          log: Optional[List[str]] = typer.Option(None, "--log", metavar="KIND",
                                                  help="also log to tensorboard (event files in RUN/tensorboard) "
                                                       "or mlflow[=URI] (default store RUN/mlruns); repeatable")):
    """Train a spec; writes metrics.jsonl, summary.json, checkpoint.npz and curves.png into the run folder.

    Ctrl-C stops after the current step, writes a checkpoint and says how to resume (exit code 130)."""
    from nngraph.session import run_training
    from nngraph.train.logs import make_loggers
    from nngraph.train.loop import TrainingInterrupted
    from nngraph.train.outputs import CHECKPOINT_FILE

    out, resume = _folder(out, "--out"), _folder(resume, "--resume")
    if resume is not None and (out is not None or overwrite):
        raise typer.BadParameter("a resumed run stays in its folder: give --resume alone, without --out or "
                                 "--overwrite", param_hint="'--resume'")
    loggers = make_loggers(log or [])  # an unknown kind or a missing extra: refused before anything is read
    if resume is not None:
        checked, train_name = _load_for_checkpoint(spec, resume / CHECKPOINT_FILE, overrides, train_name)
    else:
        checked = load_spec(spec, overrides, train_name)
    try:
        with _checkpoint_warnings():
            summary = run_training(checked, train_name, out=out, resume=resume, backend=backend, dtype=dtype,
                                   quiet=quiet or json_out, threads=threads, overwrite=overwrite, loggers=loggers)
    except TrainingInterrupted as stop:
        _say_how_to_resume(stop, spec, overrides, train_name)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_summary(summary, json_out)


def _load_for_checkpoint(spec: Path, checkpoint: Path, overrides, train_name):
    """The spec as the run that wrote `checkpoint` trained it: its recorded `--set` settings, then the ones given
    now on top (a setting that differs from the run's is named in a warning when the checkpoint is loaded);
    its train block unless --train names one (another block does not get the run's settings). (checked spec,
    train block name). A checkpoint that is not there is reported where it is loaded, after the command's other
    inputs are read."""
    from nngraph.api import recorded_run

    recorded_train, recorded = recorded_run(checkpoint) if checkpoint.is_file() else (None, [])
    if train_name is not None and train_name != recorded_train:
        recorded = []
    train_name = train_name or recorded_train
    return load_spec(spec, overrides, train_name, recorded), train_name


@contextmanager
def _checkpoint_warnings():
    """What loading a checkpoint warned of (train/provenance.py: other settings, an older checkpoint), as one
    `warning: ...` line each on stderr once the block ends; other warnings are shown as Python shows them, when
    they happen. (Recording every warning and showing the others afterwards looped forever: inside
    `catch_warnings(record=True)`, `showwarning` records, so each one shown was recorded again.)"""
    from nngraph.train.provenance import CheckpointWarning

    held = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", CheckpointWarning)
        show = warnings.showwarning

        def hold_checkpoint_warnings(message, category, *args, **kwargs):
            if issubclass(category, CheckpointWarning):
                held.append(message)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = hold_checkpoint_warnings
        try:
            yield
        finally:
            for message in held:
                typer.echo(f"warning: {message}", err=True)


def _say_how_to_resume(stop, spec: Path, overrides, train_name) -> None:
    if stop.checkpoint is None:
        typer.echo(f"interrupted at {stop.where}", err=True)
        return
    again = ["nngraph", "train", str(spec), "--resume", str(stop.checkpoint.parent)]
    again += [part for o in overrides or [] for part in ("--set", o)] + (["--train", train_name] if train_name else [])
    typer.echo(f"interrupted at {stop.where}; checkpoint written to {stop.checkpoint}\n"
               f"resume with: {shlex.join(again)}", err=True)


def _print_summary(summary: dict, json_out: bool) -> None:
    import json

    from nngraph.train.parallel import world

    if not world().writes:  # under MPI the summary is printed once, by rank 0
        return
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    final = {k: v for k, v in summary.get("final", {}).items() if isinstance(v, float)}
    shown = "  ".join(f"{k} {v:.4g}" for k, v in final.items())
    stop = " (stopped early)" if summary.get("stopped_early") else ""
    best = f", best epoch {summary['best_epoch']} restored" if summary.get("best_epoch") else ""
    typer.echo(f"{_epochs_run(summary)}{stop}{best} in {summary['wall_time_s']:.1f}s")
    typer.echo(f"  {shown}")
    typer.echo(f"run folder: {summary['run_dir']}")


def _folder(given: str | None, option: str) -> Path | None:
    """A run folder option as a Path; an empty one refused (`--out "$RUN"` with RUN unset wrote the run into the
    current folder: Path("") is ".")."""
    if given is not None and not given.strip():
        raise typer.BadParameter(f"is an empty path; for the current folder, say {option} .", param_hint=f"'{option}'")
    return None if given is None else Path(given)


def _epochs_run(summary: dict) -> str:
    """The epochs this call trained: `300 epochs`, or `100 epochs (201-300, resumed)`."""
    total, before = summary["epochs_run"], summary.get("resumed_from_epoch", 0)
    if not total:
        return "0 epochs (`epochs 0`: the checkpoint holds the initial parameters; no curves.png)"
    if not before:
        return plural(total, "epoch")
    if total == before:
        return f"0 epochs (the run was complete at epoch {total})"
    return f"{plural(total - before, 'epoch')} ({before + 1}-{total}, resumed)"


def evaluate(spec: Path = SPEC, checkpoint: Path = CHECKPOINT,
             data: Optional[str] = typer.Option(None, "--data", metavar="SET",
                                                help="score all of this data set (`digits`, `npy(\"x.npy\")`: "
                                                     "paths from the current folder), prepared as the "
                                                     "training data was"),
             backend: str = BACKEND, overrides: Optional[List[str]] = SET, train_name: Optional[str] = TRAIN,
             json_out: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
             likelihood: Optional[int] = typer.Option(None, "--likelihood", min=1, max=1_000_000, metavar="K",
                                                      help="a VAE: also log p(x) by importance sampling, K draws "
                                                           "per example (VAE papers quote K = 1000); with --refine "
                                                           "and the examples, at most 3e12 FLOPs of work"),
             refine: int = typer.Option(0, "--refine", min=0, max=100_000, metavar="N",
                                        help="a VAE: also the ELBO (and --likelihood) under each example's "
                                             "posterior refined by N Adam steps")):
    """Evaluate a trained checkpoint on the splits it was trained with (or on all of --data).

    The run's --set settings are used again; one given here goes on top, with a warning naming it."""
    import json

    from nngraph.api import DATA_PATH, data_option
    from nngraph.session import run_evaluation

    checked, train_name = _load_for_checkpoint(spec, checkpoint, overrides, train_name)
    if data is not None:
        SOURCES[DATA_PATH] = data
    other = data_option(data) if data is not None else None
    with _checkpoint_warnings():
        metrics = run_evaluation(checked, train_name, checkpoint, backend=backend, data=other,
                                 likelihood=likelihood, refine=refine)
    if json_out:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        for split, values in metrics.items():
            typer.echo(f"{split}: " + "  ".join(f"{k} {_figure(v)}" for k, v in values.items()))


def _figure(value) -> str:
    """A metric as eval prints it: a number, or a list of them (a multi-label task's accuracy per label)."""
    if isinstance(value, list):
        return "[" + " ".join(f"{v:.4g}" for v in value) + "]"
    return f"{value:.4g}"


def predict(spec: Path = SPEC, checkpoint: Path = CHECKPOINT,
            input_path: Path = typer.Option(..., "--input", metavar="X.npy|X.csv",
                                            help="the inputs, one row each: an array, or a table read as the "
                                                 "training csv was (columns matched by their header's names; "
                                                 "its target column, where it has one, left out)"),
            output: Path = typer.Option(..., "-o", "--output", metavar="Y.npy|Y.csv",
                                        help="where the outputs go: the array, or a table (a classifier's: "
                                             "the predicted class's name, then each class's probability)"),
            unit: Optional[str] = typer.Option(None, "--unit", metavar="NAME",
                                               help="which unit to output (default: the output)"),
            backend: str = BACKEND, train_name: Optional[str] = TRAIN):
    """Run a trained model forward on inputs from a .npy or .csv file."""
    from nngraph.session import run_prediction

    checked, train_name = _load_for_checkpoint(spec, checkpoint, None, train_name)
    with _checkpoint_warnings():
        shape = run_prediction(checked, train_name, checkpoint, input_path, output, unit=unit, backend=backend)
    typer.echo(f"wrote {output} {list(shape)}")


def sample(spec: Path = SPEC, checkpoint: Path = CHECKPOINT,
           output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE",
                                                 help="a picture (.png, .svg, .pdf), .npy or .txt (default: "
                                                      "samples.png in the checkpoint's folder; text is printed)"),
           count: int = typer.Option(64, "-n", "--count", min=1, max=100_000, metavar="N",
                                     help="how many samples (times --steps and the model's FLOPs: at most 3e12 "
                                          "FLOPs of work)"),
           prime: Optional[str] = typer.Option(None, "--prime", metavar="TEXT",
                                               help="text to start a character model"),
           length: int = typer.Option(200, "--length", min=1, max=100_000, metavar="N",
                                      help="characters to generate (one forward step each)"),
           temperature: Optional[float] = typer.Option(None, "--temperature", min=1e-6, metavar="T",
                                                       help="a character model's softmax temperature (default 1)"),
           fill: Optional[str] = typer.Option(None, "--fill", metavar="SIDE|MASK.npy|missing",
                                              help="fill in part of each test example (Boltzmann machines, VAEs, "
                                                   "GANs, sequence models predicting their next input), the rest "
                                                   "kept: the top, bottom, left or right half, a .npy mask "
                                                   "(1 = fill in), or `missing`: the NaN values of --input"),
           input_path: Optional[Path] = typer.Option(None, "--input", metavar="X.npy",
                                                     help="examples to work on instead of the test split: to fill "
                                                          "in (--fill), or low-resolution images for a "
                                                          "super-resolution model"),
           steps: int = typer.Option(1000, "--steps", min=1, max=100_000, metavar="N",
                                     help="Gibbs sweeps for Boltzmann machines; rounds of a VAE's fill-in, steps "
                                          "of a GAN's search for its noise"),
           means: bool = typer.Option(False, "--means",
                                      help="Boltzmann machines: the visible units' probabilities given the last "
                                           "sweep, instead of its states"),
           prior: Optional[float] = typer.Option(None, "--prior", metavar="W",
                                                 help="a GAN's fill-in: the weight of the prior term "
                                                      "W * ||z||^2 / 2 on normal noise (default 0)"),
           label: Optional[int] = typer.Option(None, "--label", metavar="C",
                                               help="a deep belief net pretrained with labels=true: samples of "
                                                    "class C (its label clamped in the top RBM)"),
           seed: int = typer.Option(0, "--seed", min=0, metavar="N", help="seed of the random draws"),
           backend: str = BACKEND, train_name: Optional[str] = TRAIN):
    """Generate from a trained model: text, images, 2-D points, or fill-ins, as the model allows."""
    from nngraph.session import run_sampling

    request = dict(output=output, count=count, prime=prime, length=length, temperature=temperature,
                   fill=fill, steps=steps, seed=seed, means=means, input=input_path, prior=prior,
                   label=label)
    checked, train_name = _load_for_checkpoint(spec, checkpoint, None, train_name)
    with _checkpoint_warnings():
        message = run_sampling(checked, train_name, checkpoint, request, backend=backend)
    typer.echo(message)


def export(spec: Path = SPEC, checkpoint: Path = CHECKPOINT,
           output: Path = typer.Option(..., "-o", "--output", metavar="FILE.onnx", help="where the ONNX model goes"),
           part: Optional[str] = typer.Option(None, "--part", metavar="NAME",
                                              help="what to export of a vae (autoencoder, encoder, decoder) or a "
                                                   "gan (generator, discriminator); default: the first"),
           train_name: Optional[str] = TRAIN):
    """Write a trained model's forward pass as an ONNX model (opset 17; needs the onnx extra)."""
    from nngraph.export import OPSET, export_onnx

    checked, train_name = _load_for_checkpoint(spec, checkpoint, None, train_name)
    with _checkpoint_warnings():
        done = export_onnx(checked, train_name, checkpoint, output, part)
    which = f" ({done.part})" if done.part else ""
    typer.echo(f"wrote {output}: model {done.model}{which}, {', '.join(done.inputs)} -> {', '.join(done.outputs)} "
               f"(ONNX opset {OPSET})")


COMMANDS = {"train": train, "eval": evaluate, "predict": predict, "sample": sample, "export": export}
