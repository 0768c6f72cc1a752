"""Help pages: every option says what it does and names its value; usage lines name the arguments; the top page
lists every exit code; `inspect` and `viz` use the same words."""

import re

import pytest
import typer.main

from nngraph.api import load
from nngraph.cli import EXIT_CODES
from nngraph.cli.app import app
from nngraph.viz.labels import kind_text

from .helpers import REPO, run_cli, write

COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_a_value_name(name):
    for param in COMMANDS[name].params:
        assert param.help, f"{name} {param.name} has no help"
        if param.param_type_name == "argument" or not param.is_flag:
            assert param.metavar, f"{name} {param.name} shows no value name"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_pages_are_plain(name):
    result = run_cli(name, "--help")
    assert result.code == 0, result.both
    usage = result.out.splitlines()[0]
    assert re.fullmatch(rf"Usage: nngraph {name} \[OPTIONS\] SPEC(\.\.\.)?", usage), usage
    assert "<" not in result.out and "{" not in result.out and "\x1b" not in result.out
    assert "Show this message and exit." in result.out


def test_flags_show_no_value_and_options_their_value_and_default():
    page = run_cli("train", "--help").out
    assert re.search(r"^  -q, --quiet +no progress", page, re.M)
    assert re.search(r"^  --out DIR +run folder", page, re.M)
    assert re.search(r"^  --threads N +threads .*\[1 to 1024\]", page, re.S | re.M)
    assert re.search(r"^  --backend NAME +numpy \(CPU\) or cupy \(GPU\) \[default: numpy\]", page, re.M)


def test_the_top_page_lists_every_exit_code():
    page = run_cli("--help").out
    codes = page.split("Exit codes:")[1]
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^  {code} +{re.escape(meaning.split()[0])}", codes, re.M), code


def test_inspect_and_viz_name_an_identity_unit_alike(tmp_path):
    path = write(tmp_path, "lin.nn", "model m {\n  input x[2]\n  layer h[3]\n  output y[1]\n  x -> h -> y\n}\n")
    unit = load(path).models["m"].unit("h")
    assert unit.activation == "identity" and kind_text(unit) == "linear"
    table = run_cli("inspect", path).out
    assert re.search(r"h\s+│ layer\s+│ \[3\]\s+│ linear\s+│", table), table
    assert "identity" not in table
    assert "total: 13 parameters" in table


def test_the_readme_lists_the_same_exit_codes():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("Exit codes (also in `nngraph --help`):")[1].split("\n\n")[1]
    assert [int(row.split("|")[1]) for row in table.splitlines()[2:]] == [code for code, _ in EXIT_CODES]
