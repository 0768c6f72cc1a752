"""`nngraph convert`: .nn -> .yaml -> .nn keeps the AST; a failed convert leaves its output alone."""

import pytest

from nngraph.spec.load import load_spec

from .helpers import SPECS, run_cli, write

PRECIOUS = "# my notes, not to be lost\n"


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.nn")), ids=lambda p: p.name)
def test_round_trip_gives_the_same_ast(tmp_path, path):
    yaml_path, back = tmp_path / f"{path.stem}.yaml", tmp_path / f"{path.stem}.nn"
    first = run_cli("convert", path, "-o", yaml_path)
    assert (first.code, first.out) == (0, f"wrote {yaml_path}\n"), first.both
    second = run_cli("convert", yaml_path, "-o", back)
    assert second.code == 0, second.both
    original = load_spec(path)
    assert load_spec(yaml_path) == original
    assert load_spec(back) == original
    assert run_cli("check", back).code == 0


def test_yml_suffix_is_yaml(tmp_path):
    out = tmp_path / "x.yml"
    assert run_cli("convert", SPECS / "xor.nn", "-o", out).code == 0
    assert "\nmodel xor:\n" in out.read_text()  # after the spec's opening comment


@pytest.mark.parametrize("source_text, out_name, message", [
    ("model m {\n  x -> \n}\n", "out.yaml", "bad.nn:2:8: error: unexpected end of line"),
    (None, "out.yaml", "no such file"),
    ("model m {\n}\n", "out.txt", "cannot write "),  # named by the output, not as out.txt:1:1 (round 6)
])
def test_a_failed_convert_leaves_the_output_untouched(tmp_path, source_text, out_name, message):
    source = write(tmp_path, "bad.nn", source_text) if source_text is not None else tmp_path / "bad.nn"
    out = write(tmp_path, out_name, PRECIOUS)
    result = run_cli("convert", source, "-o", out)
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.both
    assert out.read_text() == PRECIOUS
    assert [p.name for p in tmp_path.iterdir() if p.name not in ("bad.nn", out_name)] == []  # no temp file left


def test_convert_creates_missing_folders_as_every_command_does(tmp_path):
    out = tmp_path / "no" / "such" / "out.yaml"
    result = run_cli("convert", SPECS / "xor.nn", "-o", out)
    assert result.code == 0, result.both
    assert load_spec(out) == load_spec(SPECS / "xor.nn")


def test_convert_under_a_file_is_a_plain_error(tmp_path):
    blocker = write(tmp_path, "file", "x")
    result = run_cli("convert", SPECS / "xor.nn", "-o", blocker / "out.yaml")
    assert result.code == 1 and "internal error" not in result.err
    assert f"cannot create the folder {blocker}: {blocker} is a file" in result.err


@pytest.mark.parametrize("how", ["same path", "another path", "a link"])
def test_convert_refuses_to_overwrite_its_input(tmp_path, how):
    source = write(tmp_path, "f.nn", PRECIOUS + (SPECS / "xor.nn").read_text())
    out = {"same path": source, "another path": tmp_path / "." / "f.nn", "a link": tmp_path / "link.nn"}[how]
    if how == "a link":
        out.symlink_to(source)
    result = run_cli("convert", source, "-o", out)
    assert result.code == 1 and "is the input file" in result.err and "Traceback" not in result.both
    assert source.read_text().startswith(PRECIOUS)
