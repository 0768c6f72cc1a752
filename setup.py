"""The parts of the build pyproject.toml cannot say: the grammar folder shipped inside the package, and
the one C extension, nngraph.backend._kernels (its sources: nngraph/backend/csrc/).

The extension is optional: where no C compiler is found, nngraph installs without it and the numpy
backend runs the numpy twins of its kernels (slower; the same results up to float32 rounding).
`python -m nngraph.backend` says which is in use. Each kernel is compiled once per instruction set
(csrc/isa_*.c, under `#pragma GCC target`), so one build serves every x86-64 CPU.
"""

import sys
from glob import glob

from setuptools import Extension, find_packages, setup

if sys.platform == "win32":
    FLAGS, LIBRARIES = ["/O2", "/fp:precise"], []
else:
    LIBRARIES = ["m"]  # tanh, and fmaf where the CPU has no FMA
    # no FMA contraction: every operation rounds as numpy's ufuncs do, on every CPU (see csrc/module.c);
    # no trapping math: otherwise GCC will not if-convert a float comparison without AVX-512's masks, and
    # the AVX2 build of the LSTM step (float32 tanh's clamp) stayed scalar, 6x slower
    FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]

setup(
    # grammar/ sits at the top of the repository and ships inside the package as nngraph/grammar/
    packages=find_packages(include=["nngraph", "nngraph.*"]) + ["nngraph.grammar"],
    package_dir={"nngraph.grammar": "grammar"},
    package_data={"nngraph.grammar": ["nngraph.lark", "nngraph.tables.json"],
                  "nngraph.backend.cuda": ["kernels.cu"]},  # compiled where it runs: NVRTC on the GPU
    ext_modules=[Extension("nngraph.backend._kernels", sorted(glob("nngraph/backend/csrc/*.c")),
                           depends=glob("nngraph/backend/csrc/*.h"), extra_compile_args=FLAGS,
                           libraries=LIBRARIES, optional=True)],
)
