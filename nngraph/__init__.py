"""nngraph: declarative neural networks, compiled to NumPy or CuPy.

    import nngraph
    checked = nngraph.load("specs/xor.nn")
    summary = nngraph.fit(checked, out="runs/xor")
"""

import sys

__version__ = "0.1.0"

_API = ("load", "loads", "program", "fit", "evaluate", "predict", "apply_overrides")


def __getattr__(name):
    # the API is imported on first use, so `nngraph check` does not pay for what it does not run
    if name in _API:
        from nngraph import api

        return getattr(api, name)
    raise AttributeError(f"module 'nngraph' has no attribute '{name}'")


def _show_in_notebooks() -> None:
    """Inside IPython (Jupyter), checked specs and Programs show their drawing and inspect table
    (viz/notebook.py); elsewhere nothing is imported."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None:
        from nngraph.viz.notebook import register

        register(shell.display_formatter)


_show_in_notebooks()
