"""nngraph's CUDA kernels (`kernels.cu`) and the two ways they run: on the GPU through cupy (`launch.py`:
NVRTC-compiled once per dtype) or on the CPU through the emulator (`emulator.py`: the same source as C++,
each block's threads as POSIX threads), which is how the tests run every kernel on any machine. `entries.py`
holds the computations of `backend.accel`'s table that have a CUDA version, with their twins' arguments.
"""
