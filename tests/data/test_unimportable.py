"""A package that is installed but fails to import is not reported as "not installed": the message says what the
import said (a broken install, a missing shared library), so the user is not sent to install what is there."""

import builtins

import pytest

import nngraph
from nngraph.errors import DataError, unimportable
from nngraph.session import prepare

SPEC = """
model m { input x[64]; output y[10] softmax; x -> y }
train { model m; data digits; loss cross_entropy(y); epochs 1 }
"""


def test_a_missing_package_is_not_installed():
    assert unimportable(ModuleNotFoundError("No module named 'sklearn'", name="sklearn"), "sklearn") == \
        "which is not installed"
    assert unimportable(ModuleNotFoundError("...", name="sklearn.datasets"), "sklearn") == "which is not installed"


def test_a_broken_import_says_what_broke():
    missing_dependency = ModuleNotFoundError("No module named 'scipy'", name="scipy")
    assert unimportable(missing_dependency, "sklearn") == \
        "which is installed but could not be imported (No module named 'scipy')"
    library = ImportError("libgomp.so.1: cannot open shared object file")
    assert "could not be imported (libgomp.so.1: cannot open" in unimportable(library, "sklearn")


def test_the_digits_loader_reports_a_broken_scikit_learn(monkeypatch):
    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("libgomp.so.1: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(DataError, match=r"digits needs scikit-learn, which is installed but could not be imported "
                                        r"\(libgomp.so.1: cannot open shared object file\)"):
        prepare(nngraph.loads(SPEC))
