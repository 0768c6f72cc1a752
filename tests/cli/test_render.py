"""Rendering a diagnostic reads nothing but a regular spec-sized file, and prefers the text it is given."""

import os
import threading
import time
from pathlib import Path

import pytest

from nngraph.cli.render import read_shown_source, render_diagnostic, render_error
from nngraph.errors import Collector, Diagnostic, ErrorList, Span
from nngraph.spec.parser import MAX_SOURCE_BYTES

from .helpers import run_cli, write


def rendered(path, line=1, column=1, sources=None) -> str:
    return render_diagnostic(Diagnostic("bad", Span(str(path), line, column)), {} if sources is None else sources)


def test_the_given_source_text_is_used_and_the_file_not_read(tmp_path):
    missing = tmp_path / "gone.nn"  # the loader read it; it has gone since
    text = rendered(missing, 2, 3, {str(missing): "model m {\n  x -> y\n}\n"})
    assert text.splitlines()[1:] == ["    x -> y", "    ^"]


def test_a_regular_file_is_read_for_its_line(tmp_path):
    path = write(tmp_path, "a.nn", "model m {\n  x -> y\n}\n")
    assert rendered(path, 2, 3).splitlines()[1] == "    x -> y"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_not_read():
    started = time.process_time()  # reading the device would be CPU time
    assert rendered("/dev/zero") == "/dev/zero:1:1: error: bad"
    assert time.process_time() - started < 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_neither_waited_for_nor_read(tmp_path):
    fifo = tmp_path / "x.nn"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(rendered(fifo)), daemon=True)
    worker.start()
    worker.join(5)
    assert done == [f"{fifo}:1:1: error: bad"]


def test_a_file_over_the_spec_size_cap_is_not_read(tmp_path):
    big = tmp_path / "big.nn"
    big.write_bytes(b"model m {\n" + b"#" * MAX_SOURCE_BYTES)
    assert read_shown_source(str(big)) is None
    assert rendered(big) == f"{big}:1:1: error: bad"


def test_names_that_are_no_files_show_no_line(tmp_path):
    assert read_shown_source("<--set>") is None and read_shown_source(str(tmp_path)) is None
    assert read_shown_source("a\0b") is None


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_check_dev_zero_is_one_clear_error():
    result = run_cli("check", "/dev/zero")
    assert result.code == 1 and result.out == ""
    # a device has no lines: the error names the file without a position, so showing it reads nothing
    assert result.err.startswith("error: /dev/zero is a device") and len(result.err) < 1000
    assert "Traceback" not in result.err


def test_errors_past_the_cap_are_counted(tmp_path):
    links = "".join(f"  x -> u{i}\n" for i in range(25))
    result = run_cli("check", write(tmp_path, "many.nn", f"model m {{\n  input x[2]\n{links}}}\n"))
    assert result.code == 1
    assert result.err.count(": error: unknown unit 'u") == 20
    assert result.err.rstrip().endswith("\n25 errors; the first 20 are shown")


def test_a_collector_counts_what_its_cap_cuts_also_through_nested_lists():
    inner = Collector(cap=2)
    for i in range(5):
        inner.error(f"e{i}")
    inner.error("e4")  # the same error again is no new error
    outer = Collector(cap=3)
    outer.error("first")
    with pytest.raises(ErrorList) as caught:
        inner.raise_if_any()
    outer.add(caught.value)
    with pytest.raises(ErrorList) as caught:
        outer.raise_if_any()
    assert [e.message for e in caught.value.errors] == ["first", "e0", "e1"] and caught.value.cut == 3
    assert render_error(caught.value).splitlines()[-1] == "6 errors; the first 3 are shown"
