"""Array backends: numpy (default) and cupy. The only package that imports cupy."""

from nngraph.backend.core import Backend, array_module, available_backends, get_backend, to_host

__all__ = ["Backend", "array_module", "available_backends", "get_backend", "to_host"]
