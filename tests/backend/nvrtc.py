"""NVRTC, CUDA's runtime compiler, through ctypes from the `nvidia-cuda-nvrtc` wheel (a test dependency):
it compiles CUDA C++ to PTX without a GPU or a driver, so a machine without a GPU can still hold
nngraph/backend/cuda/kernels.cu to what the GPU machine's compiler accepts."""

from __future__ import annotations

import ctypes
import glob
import os
import sysconfig


def library_path() -> str | None:
    """libnvrtc from an installed nvidia-cuda-nvrtc wheel (CUDA 13's layout, or CUDA 12's), if any."""
    site = sysconfig.get_paths()["purelib"]
    found = sorted(glob.glob(os.path.join(site, "nvidia", "cu1*", "lib", "libnvrtc.so.*")) +
                   glob.glob(os.path.join(site, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.*")))
    return next((path for path in found if "builtins" not in path), None)


def compile_ptx(path: str, source: str, options: list[str]) -> tuple[bool, str]:
    """(whether NVRTC compiled `source` with `options`, its log)."""
    nvrtc = ctypes.CDLL(path)
    program = ctypes.c_void_p()
    assert nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"kernels.cu", 0, None, None) == 0
    try:
        encoded = [o.encode() for o in options]
        status = nvrtc.nvrtcCompileProgram(program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        return status == 0, log.value.decode(errors="replace")
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def version(path: str) -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    ctypes.CDLL(path).nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value
