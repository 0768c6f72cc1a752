"""nngraph: declarative neural networks, compiled to NumPy or CuPy.

    import nngraph
    checked = nngraph.load("specs/xor.nn")
    summary = nngraph.fit(checked, out="runs/xor")
"""

__version__ = "0.1.0"

_API = ("load", "loads", "program", "fit", "apply_overrides")


def __getattr__(name):
    # the API is imported on first use, so `nngraph check` does not pay for what it does not run
    if name in _API:
        from nngraph import api

        return getattr(api, name)
    raise AttributeError(f"module 'nngraph' has no attribute '{name}'")
