"""python -m benchmarks.twin: the same as benchmarks/twin_check.py."""

from .run import main

main()
