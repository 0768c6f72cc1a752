"""`nngraph fmt`: rewrites what is not formatted, `--check` only names it; a file that fails to parse is
reported as `check` reports it and left as it was; YAML specs are refused clearly."""

from tests.cli.helpers import SPECS, run_cli

MESSY = "model m {  # one unit\ninput   x[2] ; layer h[3] tanh\n  x->h   # the link\n}\n"
TIDY = "model m {  # one unit\n  input  x[2]\n  layer  h[3] tanh\n  x -> h  # the link\n}\n"


def test_fmt_rewrites_a_messy_spec_and_then_has_nothing_to_do(tmp_path):
    spec = tmp_path / "m.nn"
    spec.write_text(MESSY)
    result = run_cli("fmt", spec)
    assert (result.code, result.out) == (0, f"formatted {spec}\n")
    assert spec.read_text() == TIDY
    again = run_cli("fmt", spec)
    assert (again.code, again.out) == (0, "")


def test_fmt_check_names_the_files_that_would_change_and_writes_nothing(tmp_path):
    messy, tidy = tmp_path / "messy.nn", tmp_path / "tidy.nn"
    messy.write_text(MESSY)
    tidy.write_text(TIDY)
    result = run_cli("fmt", "--check", messy, tidy)
    assert (result.code, result.out) == (1, f"would reformat {messy}\n")
    assert messy.read_text() == MESSY
    assert run_cli("fmt", "--check", tidy).code == 0


def test_fmt_reports_a_bad_spec_where_it_is_wrong_and_leaves_it_alone(tmp_path):
    bad, messy = tmp_path / "bad.nn", tmp_path / "messy.nn"
    bad.write_text("model m {\n  input x[2 }\n")
    messy.write_text(MESSY)
    result = run_cli("fmt", bad, messy)
    assert result.code == 1
    assert f"{bad}:2:13: error:" in result.err and "Traceback" not in result.err
    assert bad.read_text() == "model m {\n  input x[2 }\n"
    assert messy.read_text() == TIDY  # the others are still formatted


def test_fmt_refuses_a_yaml_spec_clearly():
    result = run_cli("fmt", "--check", SPECS / "xor.yaml")
    assert result.code == 1
    assert "fmt formats .nn specs only" in result.err and "nngraph convert" in result.err



def test_fmt_refuses_what_check_refuses(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("model m {}\n")
    result = run_cli("fmt", notes, tmp_path)
    assert result.code == 1 and result.err.count("unknown spec suffix") == 2
    assert notes.read_text() == "model m {}\n"


def test_fmt_rewrites_the_file_a_link_names_and_keeps_its_mode(tmp_path):
    spec, link = tmp_path / "m.nn", tmp_path / "link.nn"
    spec.write_text(MESSY)
    spec.chmod(0o640)
    link.symlink_to(spec)
    assert run_cli("fmt", link).code == 0
    assert link.is_symlink() and spec.read_text() == TIDY
    assert spec.stat().st_mode & 0o777 == 0o640
