#!/usr/bin/env bash
# For a machine with an NVIDIA GPU: install cupy, run every numeric test on cupy, then the GPU MLP benchmark and
# resident against streamed training data.
# Usage (from the repository root): bash benchmarks/gpu.sh
set -uo pipefail
python -m pip install --quiet -e ".[test]" 2>&1 | tail -1
python -c "import cupy" 2>/dev/null || python -m pip install --quiet "cupy-cuda12x>=13" 2>&1 | tail -1
python -c "import cupy; print('cupy', cupy.__version__, 'GPUs:', cupy.cuda.runtime.getDeviceCount())"
# the xp/backend fixtures run each numeric test once per backend; -k cupy keeps the cupy half
python -m pytest -k cupy tests/ops tests/backend tests/train tests/compile tests/recurrent tests/boltzmann tests/generative -p no:cacheprovider
status=$?
python -m benchmarks.gpu_mlp --steps 200
python -m benchmarks.device_data --repeats 5
exit $status
