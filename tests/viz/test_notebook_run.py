"""A real notebook, executed by a Jupyter kernel (nbclient and ipykernel, in the test extra): a checked spec
shows its drawing and inspect table, and `nngraph.fit` its progress, with nothing patched."""

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

from tests.cli.helpers import SPECS


def outputs_of(cell) -> dict:
    """The cell's outputs by MIME type (and `stderr`, `stdout` for streams)."""
    found = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            found[output.name] = found.get(output.name, "") + output.text
        else:
            found.update(output.get("data", {}))
    return found


@pytest.mark.slow  # a kernel starts: ~10 s
def test_a_notebook_shows_the_spec_and_the_training_progress(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"import nngraph\nchecked = nngraph.load({str(SPECS / 'xor.nn')!r}, ['epochs=3'])\n"
                                  "checked"),
        nbformat.v4.new_code_cell(f"summary = nngraph.fit(checked, out={str(tmp_path / 'run')!r})"),
    ])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    shown = outputs_of(notebook.cells[0])
    assert shown["image/svg+xml"].lstrip().startswith("<svg")
    assert "<table>" in shown["text/html"] and "<svg" in shown["text/html"]
    assert "epoch 3/3" in outputs_of(notebook.cells[1]).get("stderr", "")
    assert (tmp_path / "run" / "summary.json").is_file()
