"""tf32 and bfloat16 products on a GPU (skipped without one): a run trains to the float32 run's quality, and
the products are really at the lower precision (a product whose float32 result needs more than bfloat16's 8
bits of mantissa comes out rounded)."""

import numpy as np
import pytest

import nngraph
from nngraph.backend import get_backend
from nngraph.backend.gpu import load_cupy
from tests.cli.helpers import SPECS

cupy, WHY_NOT = load_cupy()
pytestmark = pytest.mark.skipif(cupy is None, reason=WHY_NOT or "")


@pytest.mark.parametrize("mode", ["tf32", "bfloat16"])
def test_products_are_rounded(mode):
    backend = get_backend("cupy", mode)
    assert backend.dtype == np.float32 and backend.dtype_name == mode
    # 1 + 2^-12 is 1 at tf32's 10 and bfloat16's 7 mantissa bits; a GEMM-sized product (a vector's might be
    # a dot product, which has no compute type)
    a = cupy.full((128, 256), 1 + 2.0 ** -12, dtype=cupy.float32)
    b = cupy.ones((256, 128), dtype=cupy.float32)
    assert float((a @ b)[3, 5]) == 256.0
    get_backend("cupy", "float32")
    assert float((a @ b)[3, 5]) == 256.0625  # full float32 again


@pytest.mark.parametrize("mode", ["tf32", "bfloat16"])
def test_digits_mlp_trains_as_well(mode, tmp_path):
    checked = nngraph.load(SPECS / "digits_mlp.nn")
    accuracy = {}
    for dtype in ("float32", mode):
        summary = nngraph.fit(checked, out=tmp_path / dtype, backend="cupy", dtype=dtype, quiet=True)
        assert summary["dtype"] == dtype
        accuracy[dtype] = summary["test"]["accuracy"]
    assert accuracy[mode] >= accuracy["float32"] - 0.02
    get_backend("cupy", "float32")
