"""nngraph: declarative neural networks, compiled to NumPy or CuPy."""

__version__ = "0.1.0"
