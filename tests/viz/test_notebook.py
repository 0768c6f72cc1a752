"""Jupyter: a checked spec and a compiled Program show their drawing (SVG) and their inspect table (HTML) through
the IPython display formatter that `import nngraph` teaches inside IPython (viz/notebook.py: register); `nngraph.fit`
shows its progress in a notebook (detected as rich detects one)."""

import builtins
import io
import sys
import types
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from rich.console import Console

import nngraph
from nngraph.train.progress import TrainingProgress, in_notebook
from nngraph.viz.notebook import register
from tests.cli.helpers import SPECS

SVG = "{http://www.w3.org/2000/svg}svg"
formatters = pytest.importorskip("IPython.core.formatters")  # IPython is in the test extra (ipykernel)


def shown(thing) -> dict:
    """What IPython shows of `thing`, by MIME type, once nngraph has registered its displays."""
    display = formatters.DisplayFormatter()
    register(display)
    data, _ = display.format(thing)
    return data


class Tables(HTMLParser):
    """The cells of every table in an HTML text, row by row; the tags left open at the end."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.open, self.cell = [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_a_checked_spec_shows_its_drawing_as_valid_svg():
    svg = ET.fromstring(shown(nngraph.load(SPECS / "stacked_elman.nn"))["image/svg+xml"])
    assert svg.tag == SVG
    texts = " ".join(t.text or "" for t in svg.iter())
    assert all(name in texts for name in ("x", "h1", "h2", "y"))


def test_a_checked_spec_shows_its_inspect_table_as_html():
    html = shown(nngraph.load(SPECS / "stacked_elman.nn"))["text/html"]
    tables = Tables(html)
    assert not tables.open  # every tag closed
    assert tables.rows[0] == ["unit", "role", "shape", "activation / kind", "inputs", "parameters", "FLOPs"]
    rows = {row[0]: row for row in tables.rows[1:]}
    assert rows["h2"][1:] == ["layer", "[32]", "tanh", "<- h1, <- h2 delay 1", "2,080", "4,096"]  # `<` escaped
    assert "<svg" in html and "total: 4,257 parameters" in html


def test_a_program_shows_its_model_and_its_parameters():
    checked = nngraph.load(SPECS / "xor.nn")
    program = nngraph.program(checked)
    assert ET.fromstring(shown(program)["image/svg+xml"]).tag == SVG
    html = shown(program)["text/html"]
    assert [row[0] for row in Tables(html).rows[1:]] == ["x", "h", "y"]
    assert "compiled: 17 parameters on numpy, float32" in html


def test_a_program_built_without_its_model_shows_nothing_rich():
    from nngraph.compile import Program

    program = nngraph.program(nngraph.load(SPECS / "xor.nn"))
    bare = Program(program.train_plan, program.eval_plan)
    assert set(shown(bare)) == {"text/plain"}


@pytest.fixture
def notebook(monkeypatch):
    """A Jupyter kernel as rich sees one: IPython's `get_ipython()` returning a ZMQInteractiveShell."""
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setattr(builtins, "get_ipython", lambda: shell, raising=False)


def test_a_notebook_is_detected(notebook):
    assert in_notebook()


def test_no_notebook_outside_one():
    assert not in_notebook()


@pytest.mark.parametrize("widgets, mode", [(False, "lines"), (True, "bar")])
def test_progress_in_a_notebook_is_a_bar_where_ipywidgets_can_draw_it(monkeypatch, widgets, mode):
    monkeypatch.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets") if widgets else None)
    console = Console(force_jupyter=True, file=io.StringIO())
    assert TrainingProgress(3, console=console).mode == mode


def test_fit_shows_progress_in_a_notebook_and_not_elsewhere(notebook, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # plain lines: what a bare notebook shows
    checked = nngraph.load(SPECS / "xor.nn", ["epochs=3"])
    nngraph.fit(checked, out=tmp_path / "shown")
    assert "epoch 1/3" in capsys.readouterr().err
    monkeypatch.delattr(builtins, "get_ipython")
    nngraph.fit(checked, out=tmp_path / "quiet")
    assert "epoch" not in capsys.readouterr().err
