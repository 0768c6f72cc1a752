"""Where pictures go: checked suffixes, parent folders, and a matplotlib figure on the Agg canvas.

matplotlib is imported inside the functions only: `nngraph check` imports nothing heavy.
We build `Figure` objects directly rather than through pyplot, so no global backend or figure state is touched.
Pictures are written atomically (`nngraph.atomic`), as every result is.
"""

from __future__ import annotations

from pathlib import Path

from nngraph.atomic import atomic_write, prepare_output
from nngraph.errors import ValidationError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def output_path(path, suffixes: tuple[str, ...], what: str) -> Path:
    """The path as a Path with a known suffix, checked (`atomic.prepare_output`) before anything is drawn."""
    path = Path(path)
    if path.is_dir():  # `-o .` has no name to put a suffix on: 'ValueError: has an empty name' (exit 70)
        prepare_output(path)  # refuses it as a folder
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        shown = ", ".join(suffixes)
        raise ValidationError(
            f"cannot write {what} as '{suffix or path.name}': expected a file ending in {shown}",
            None,
            f"for example {path.with_suffix(suffixes[0]).name}",
        )
    return prepare_output(path)


def new_figure(width_in: float, height_in: float, dpi: float = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: Path, **options) -> None:
    atomic_write(path, lambda f: figure.savefig(f, format=path.suffix.lower().lstrip("."), **options))
