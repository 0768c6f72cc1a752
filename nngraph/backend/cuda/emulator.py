"""The CUDA kernels on the CPU: kernels.cu compiled as C++ with a few definitions in front (`SHIM`) and a
launcher per kernel (generated from its signature), run through ctypes on numpy arrays.

A launch runs its blocks one after another; each block's threads are POSIX threads that take turns, one
running at a time from one `__syncthreads()` to the next, in rank order or its reverse (`reverse`), and the
block's shared memory is filled with 0xFF bytes first (NaNs: a kernel that reads shared memory it did not write
shows it). A run is deterministic, and a kernel that reads in a phase what another thread writes in the same
phase (a race on a GPU) gives different results in the two orders: the tests run both. So a kernel's
synchronisation is exercised as well as its arithmetic, on any machine with a C++ compiler (`CXX`, else `c++`).
Launches are kept small (`max_block`, `max_grid`), which every kernel must handle: its loops stride over
threads and blocks.

This is a test instrument, not a fast path: `NNGRAPH_ISA=cuda` sends numpy arrays here (backend/accel.py).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from nngraph.backend.cuda.launch import Kernels
from nngraph.backend.cuda.source import Signature, kernel_source, real_name, signatures
from nngraph.errors import BackendError

SHIM = r"""
#include <cmath>
#include <cstring>
#include <pthread.h>
#include <vector>
using std::exp; using std::expm1; using std::fma; using std::log; using std::nan; using std::sqrt; using std::tanh;
#define __global__
#define __device__
#define __forceinline__ inline
struct nng_dim3 { unsigned x, y, z; };
static thread_local nng_dim3 threadIdx, blockIdx;
static nng_dim3 blockDim, gridDim;
static char* nng_shared_memory;
static void nng_sync();
static inline void __syncthreads() { nng_sync(); }
#define NNG_SHARED(type, name) type* name = (type*)nng_shared_memory
"""

RUNNER = r"""
// A block's threads take turns: one runs at a time, from one __syncthreads to the next, in rank order (thread
// 0 first, or the reverse); a phase ends when every thread has arrived. So a kernel runs the same way every
// time, and one that reads in a phase what another thread of its block writes in that same phase (a race on a
// GPU) gives different results in the two orders.
static pthread_mutex_t nng_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nng_changed = PTHREAD_COND_INITIALIZER;
static unsigned nng_turn, nng_arrived;
static int nng_reverse;
static thread_local unsigned nng_rank;

extern "C" void nng_set_reverse(int reverse) { nng_reverse = reverse; }

static void nng_wait_turn() {
    while (nng_turn != nng_rank) pthread_cond_wait(&nng_changed, &nng_lock);
}

static void nng_pass_turn(bool arriving) {
    if (arriving && ++nng_arrived == blockDim.x) {
        nng_arrived = 0;
        nng_turn = 0;
    } else {
        ++nng_turn;
    }
    pthread_cond_broadcast(&nng_changed);
}

static void nng_sync() {
    pthread_mutex_lock(&nng_lock);
    nng_pass_turn(true);
    nng_wait_turn();
    pthread_mutex_unlock(&nng_lock);
}

struct nng_thread { unsigned block, thread; void (*body)(const void*); const void* args; };

static void* nng_thread_main(void* given) {
    nng_thread* self = (nng_thread*)given;
    blockIdx = {self->block, 0, 0};
    threadIdx = {self->thread, 0, 0};
    nng_rank = nng_reverse ? blockDim.x - 1 - self->thread : self->thread;
    pthread_mutex_lock(&nng_lock);
    nng_wait_turn();
    pthread_mutex_unlock(&nng_lock);
    self->body(self->args);
    pthread_mutex_lock(&nng_lock);
    nng_pass_turn(false);
    pthread_mutex_unlock(&nng_lock);
    return nullptr;
}

static bool nng_broken;  // a launch could not start its threads: those it started wait for ever

static int nng_run(unsigned grid, unsigned block, unsigned shared, void (*body)(const void*), const void* args) {
    if (nng_broken) return 3;
    blockDim = {block, 1, 1};
    gridDim = {grid, 1, 1};
    std::vector<char> memory(shared + 1);
    std::vector<pthread_t> threads(block);
    std::vector<nng_thread> selves(block);
    for (unsigned b = 0; b < grid; ++b) {
        std::memset(memory.data(), 0xff, memory.size());
        nng_shared_memory = memory.data();
        nng_turn = nng_arrived = 0;
        unsigned started = 0;
        for (; started < block; ++started) {
            selves[started] = {b, started, body, args};
            if (pthread_create(&threads[started], nullptr, nng_thread_main, &selves[started])) break;
        }
        if (started < block) {
            nng_broken = true;
            return 2;
        }
        for (unsigned t = 0; t < started; ++t) pthread_join(threads[t], nullptr);
    }
    return 0;
}
"""

_CTYPES = {"pointer": ctypes.c_void_p, "int": ctypes.c_int, "index_t": ctypes.c_longlong}
_REALS = {"float": ctypes.c_float, "double": ctypes.c_double}
_folder: Path | None = None


def launcher_source(signature: Signature) -> str:
    """C++ for `launch_NAME(grid, block, shared, ...the kernel's parameters)`."""
    name, params = signature.name, signature.params
    fields = "".join(f"    {p.declared} {p.name};\n" for p in params)
    declared = ", ".join(f"{p.declared} {p.name}" for p in params)
    passed = ", ".join(p.name for p in params)
    unpacked = ", ".join(f"given->{p.name}" for p in params)
    return (f"struct {name}_args {{\n{fields}}};\n"
            f"static void {name}_body(const void* packed) {{\n"
            f"    const {name}_args* given = (const {name}_args*)packed;\n    {name}({unpacked});\n}}\n"
            f'extern "C" int launch_{name}(unsigned grid, unsigned block, unsigned shared, {declared}) {{\n'
            f"    {name}_args args = {{{passed}}};\n    return nng_run(grid, block, shared, {name}_body, &args);\n}}\n")


def program_source(source: str | None = None) -> str:
    """The C++ of kernels.cu (or of the CUDA text `source`) behind the shim, with a launcher per kernel."""
    text = kernel_source() if source is None else source
    return "\n".join([SHIM, text, RUNNER, *(launcher_source(s) for s in signatures(source).values())])


class EmulatedKernels(Kernels):
    """kernels.cu for one dtype, built as a shared library at first use (once a process)."""

    max_block = 4
    max_grid = 3
    reverse = False  # the order a block's threads take their turns in: rank 0 first, or the last first

    def __init__(self, dtype, source: str | None = None):
        """kernels.cu's kernels, or those of the CUDA text `source` (the tests' own)."""
        super().__init__(dtype, source)
        real = real_name(dtype)
        self._library = ctypes.CDLL(str(_build(real, source)))
        self._functions = {}
        for name, signature in self.signatures.items():
            function = getattr(self._library, f"launch_{name}")
            function.argtypes = [ctypes.c_uint] * 3 + [_REALS[real] if p.kind == "real" else _CTYPES[p.kind]
                                                       for p in signature.params]
            function.restype = ctypes.c_int
            self._functions[name] = function

    def _launch(self, name, grid, block, values, shared):
        args = [None if v is None else v.ctypes.data if hasattr(v, "ctypes") and v.ndim else v.item()
                for v in values]
        self._library.nng_set_reverse(int(self.reverse))
        failed = self._functions[name](grid, block, shared, *args)
        if failed:
            raise BackendError(f"the CUDA emulator could not start {block} threads for kernel {name} (it runs no "
                               f"kernel in this process from now on)")


def _build(real: str, text: str | None = None) -> Path:
    folder = _work_folder()
    stem = f"kernels_{real}" if text is None else f"source_{hashlib.sha256(text.encode()).hexdigest()[:16]}_{real}"
    library = folder / f"{stem}.so"
    if not library.exists():
        source = folder / f"{stem}.cpp"
        source.write_text(program_source(text), encoding="utf-8")
        compiler = os.environ.get("CXX") or "c++"
        command = [compiler, "-std=c++17", "-O1", "-fPIC", "-shared", "-pthread", "-ffp-contract=off",
                   f"-Dreal={real}", "-DNNG_EMULATED", str(source), "-o", str(library)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except OSError as exc:
            raise BackendError(f"the CUDA emulator needs a C++ compiler: {compiler}: {exc}",
                               hint="set CXX to one") from exc
        if done.returncode != 0:
            raise BackendError(f"the CUDA emulator's build failed ({' '.join(command)}):\n{done.stderr[-4000:]}")
    return library


def _work_folder() -> Path:
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="nngraph-cuda-emulator-"))
        atexit.register(shutil.rmtree, _folder, ignore_errors=True)
    return _folder
