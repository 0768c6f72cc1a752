"""nngraph against an independent PyTorch twin written from docs/language.md: the command line of the package
benchmarks/twin/ (its docstring says what is compared, and how).

Usage: python benchmarks/twin_check.py [--cases N] [--seed S] [--only FAMILY] [--tol 1e-9] [--dtype float32]
Needs torch (`pip install torch==2.13.0`); nngraph itself never imports it.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root on the path, for the package's imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.twin.run import main  # noqa: E402 (after the path set-up)

if __name__ == "__main__":
    main()
