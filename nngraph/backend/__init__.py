"""Array backends: numpy (default) and cupy. The only package that imports cupy, and the one door to the
compiled CPU kernels (`accel`, imported first: its table names sequence_twins' functions, which call it)."""

from nngraph.backend import accel
from nngraph.backend.core import (
    Backend,
    array_module,
    available_backends,
    computed_on_device,
    device_scalar,
    get_backend,
    host_floats,
    host_reads,
    host_writes,
    is_device_array,
    on_device_like,
    to_device,
    to_host,
    where_is,
)

__all__ = ["Backend", "accel", "array_module", "available_backends", "computed_on_device", "device_scalar", "get_backend",
           "host_floats", "host_reads", "host_writes", "is_device_array", "on_device_like", "to_device", "to_host",
           "where_is"]
