"""Every test in this folder runs twice: through the compiled kernels and through their numpy twins.

The recurrent executor takes the compiled LSTM step (and, for float32, the whole-loop kernels and
the small GEMM) where `nngraph.backend.kernels.fused_kernels` allows it, else the numpy twins in
`nngraph.ops.recurrent`. NNGRAPH_KERNELS is read on every call, so setting it per test switches the
path. A module that compares the two paths itself defines its own, unparametrized `kernel_path`
fixture (test_sequence_kernels.py).
"""

import numpy as np
import pytest

from nngraph.backend import kernels


@pytest.fixture(autouse=True, params=["compiled", "numpy-twins"])
def kernel_path(request, monkeypatch) -> str:
    """The path this test runs: "compiled" (skipped where the extension is not built) or
    "numpy-twins" (NNGRAPH_KERNELS=0)."""
    if request.param == "compiled":
        if not kernels.built():
            pytest.skip(kernels.status())
        monkeypatch.delenv(kernels.ENV_SWITCH, raising=False)
        assert kernels.fused_kernels(np) is not None
    else:
        monkeypatch.setenv(kernels.ENV_SWITCH, "0")
        assert kernels.fused_kernels(np) is None
    return request.param
