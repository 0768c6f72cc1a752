"""nngraph.backend.gpu.pool_bytes_of: the GPU memory a call needs, as cupy's pool shows it (runs on a GPU only)."""

import pytest

from nngraph.backend import available_backends, get_backend
from nngraph.backend.gpu import load_cupy, pool_bytes_of

MIB = 1 << 20


@pytest.mark.gpu
def test_cupy_pool_holds_the_calls_peak_and_keeps_what_it_freed():
    if "cupy" not in available_backends():
        pytest.skip(load_cupy()[1] or "cupy is not available")
    xp = get_backend("cupy").xp
    kept = []

    def step():
        scratch = xp.ones(8 * MIB, dtype=xp.uint8)  # freed when the call returns
        kept.append(xp.ones(MIB, dtype=xp.uint8))  # alive after it, allocated while scratch was
        scratch += 1

    held, used = pool_bytes_of(step)
    assert used >= MIB
    assert held - used >= 8 * MIB  # the scratch block stays in the pool: held covers the 9 MiB peak
