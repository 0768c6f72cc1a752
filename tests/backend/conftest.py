"""Fixtures over the compiled kernel paths this CPU runs (tests/backend/paths.py says which)."""

import pytest

from tests.backend.paths import COMPILED, WITH_GEMMS, force_path, native


@pytest.fixture(params=COMPILED)
def path(request, monkeypatch) -> str:
    """Each compiled path this CPU runs, forced."""
    force_path(monkeypatch, request.param)
    return request.param


@pytest.fixture
def kernels(path):
    """The C functions of each compiled path this CPU runs."""
    return native(path)


@pytest.fixture(params=WITH_GEMMS)
def gemm_kernels(request):
    """The C functions of each path this CPU runs that has the GEMMs."""
    return native(request.param)


@pytest.fixture(params=COMPILED[:1])
def K(request):
    """The C functions of the best path this CPU runs."""
    return native(request.param)
