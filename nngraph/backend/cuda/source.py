"""The CUDA source and what the launchers need to know of it: each kernel's parameters, read from its
`extern "C" __global__` signature (so adding a kernel to kernels.cu is the whole change)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy

SCALAR_TYPES = ("int", "index_t", "real")  # the scalar parameter types kernels.cu may use
_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "pointer" or one of SCALAR_TYPES
    declared: str  # the type as written (for the emulator's generated code)
    element: str = ""  # a pointer's element type: "real", "int" or "index_t"


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]


@cache
def kernel_source() -> str:
    return resources.files(__package__).joinpath("kernels.cu").read_text(encoding="utf-8")


@cache
def signatures(source: str | None = None) -> dict[str, Signature]:
    """Every kernel of kernels.cu (or of the CUDA text `source`) by name."""
    return {name: Signature(name, tuple(_param(text) for text in params.split(",")))
            for name, params in _SIGNATURE.findall(kernel_source() if source is None else source)}


def _param(text: str) -> Param:
    declared, name = " ".join(text.split()).rsplit(" ", 1)
    base = declared.replace("__restrict__", "").replace("*", "").removeprefix("const ").strip()
    if "*" in declared:
        if base not in ("real", "int", "index_t"):
            raise ValueError(f"kernels.cu: pointer parameter {name!r} has type {declared!r}: real*, int* or "
                             f"index_t* only")
        return Param(name, "pointer", declared, base)
    kind = base
    if kind not in SCALAR_TYPES:
        raise ValueError(f"kernels.cu: parameter {name!r} has type {declared!r}, not a pointer or one of "
                         f"{', '.join(SCALAR_TYPES)}")
    return Param(name, kind, declared)


def scalar_dtype(kind: str, real) -> numpy.dtype:
    """The numpy type a scalar parameter of `kind` (or a pointer's element) is, `real` being the kernels'
    dtype."""
    return numpy.dtype({"int": numpy.int32, "index_t": numpy.int64}.get(kind, real))


def real_name(dtype) -> str:
    """The C type `real` stands for."""
    return {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}[numpy.dtype(dtype)]
