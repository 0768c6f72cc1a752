#!/usr/bin/env bash
# Everything a GPU machine is lent for (issues 13 and 16), in one call that stays under 8 minutes:
#   0. the CUDA kernels (nngraph/backend/cuda/kernels.cu) on the GPU against their numpy twins, and the tf32 and
#      bfloat16 product modes (rounding, digits_mlp's accuracy against float32)
#   1. benchmarks/gpu_side_by_side.py: nngraph cupy against torch CUDA, issue 13's table, floors, memory per step;
#      then the recurrent cases again with NNGRAPH_KERNELS=0 (cupy's array ops, no CUDA kernels): their gain
#   2. benchmarks/device_data.py: training data resident on the device against streamed
#   3. the cupy half of the tests (-k cupy), while 4. every specs/*.nn trains briefly on --backend cupy
#      (1 epoch; 1 step for reinforcement learning) and a pass/fail table is printed
#   5. where mpi4py and mpiexec are present: digits_mlp on 2 ranks on cupy (issue 16's NCCL path)
# Each step is time-boxed inside GPU_SH_BUDGET seconds (default 450) and a failing step does not stop the rest.
# Everything goes to stdout and, when $OUT is set (the device tool sets it), also under $OUT: gpu.log (all of
# it), side_by_side.jsonl, pytest.log, specs.txt (the table) and specs/NAME.log (each run's output).
#
# Running it from the device tool (the GPU machine has no network; see ../shared/gpu/README.md):
#   once here, in the repository root, fetch the wheels the machine lacks into .whl/ (git ignores it):
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d .whl lark==1.3.1 gymnasium cloudpickle farama-notifications
#   (lark is needed; gymnasium and its two pure-Python dependencies only for the reinforcement-learning specs)
#   then:  run(command="bash benchmarks/gpu.sh", carry=[".whl"], timeout_s=540)
#   With no wheels in .whl/ the script pip-installs the project and cupy instead (a machine with network).
# Knobs: NNGRAPH_GPU_BACKEND=numpy runs it all on numpy (to try it on a CPU machine), GPU_SH_BUDGET (seconds),
# GPU_SH_SPECS (globs under specs/, default *.nn), GPU_SH_SPEC_TIMEOUT (seconds a spec, default 90), GPU_SH_JOBS
# (specs trained at once, default 6), GPU_SH_BENCH_ARGS (extra arguments to gpu_side_by_side.py).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
START=$(date +%s)
BUDGET=${GPU_SH_BUDGET:-450}
BACKEND=${NNGRAPH_GPU_BACKEND:-cupy}
SPEC_TIMEOUT=${GPU_SH_SPEC_TIMEOUT:-90}
JOBS=${GPU_SH_JOBS:-6}
MPI_RESERVE=60  # seconds the spec runs leave for the last step
LOGS=${OUT:-$(mktemp -d /tmp/gpu_sh.XXXXXX)}
mkdir -p "$LOGS/specs" && exec > >(tee -a "$LOGS/gpu.log") 2>&1
TEE_PID=$!
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
echo "gpu.sh: backend $BACKEND, budget ${BUDGET}s, logs in $LOGS, commit $COMMIT"

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
# box CAP: the seconds a step may take, CAP or what is left of the budget, whichever is less (0: none left)
box() { local l; l=$(left); ((l < $1)) && echo $((l > 0 ? l : 0)) || echo "$1"; }
section() { echo; echo "=== $1 (at $(elapsed)s)"; }
# step NAME CAP CMD...: run CMD time-boxed, report its status, never stop the script
step() {
    local name=$1 cap rc; cap=$(box "$2"); shift 2
    section "$name"
    if ((cap < 5)); then echo "$name: not run: the ${BUDGET}s budget is spent"; return 0; fi
    timeout -k 5 "$cap" "$@"; rc=$?
    ((rc == 124 || rc == 137)) && echo "$name: stopped at its ${cap}s time box" || echo "$name: exit status $rc"
}

# ---- 0. set-up: offline wheels, or pip with network -----------------------------------------------------------
section "set-up"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$ROOT
else
    python3 -m pip install --quiet -e ".[test]" 2>&1 | tail -1
    if [ "$BACKEND" = cupy ] && ! python3 -c "import cupy" 2>/dev/null; then
        python3 -m pip install --quiet "cupy-cuda12x>=13" 2>&1 | tail -1
    fi
    export PYTHONPATH=$ROOT
fi
export PYTHONUNBUFFERED=1
python3 - <<'EOF'
import nngraph
from nngraph.backend import available_backends
from nngraph.backend.gpu import load_cupy
cupy, why = load_cupy()
print("nngraph", nngraph.__version__, "backends:", ", ".join(available_backends()))
if cupy:
    print("cupy", cupy.__version__, "on", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
else:
    print("cupy:", why)
try:
    import torch
    print("torch", torch.__version__, "cuda:", torch.cuda.is_available())
except ImportError:
    print("torch: not installed")
EOF
python3 -m nngraph.backend  # the CPU path, and whether this GPU compiles and runs nngraph's CUDA kernels

# ---- 0. the CUDA kernels first: every later step runs them ------------------------------------------------------
step "CUDA kernels against their twins, tf32/bfloat16 products (-k gpu)" 60 \
    python3 -m pytest -q -p no:cacheprovider -k gpu tests/backend/test_cuda_kernels.py tests/backend/test_gpu_products.py

# ---- 1-2. benchmarks, on an otherwise idle machine ------------------------------------------------------------
# shellcheck disable=SC2086 # GPU_SH_BENCH_ARGS is split on purpose
step "side by side (benchmarks/gpu_side_by_side.py)" 150 \
    python3 -m benchmarks.gpu_side_by_side --backend "$BACKEND" --jsonl "$LOGS/side_by_side.jsonl" \
    ${GPU_SH_BENCH_ARGS:-}
step "side by side, recurrent cases without the CUDA kernels (NNGRAPH_KERNELS=0)" 60 \
    env NNGRAPH_KERNELS=0 python3 -m benchmarks.gpu_side_by_side --backend "$BACKEND" --only elman,lstm --repeats 3 \
    --jsonl "$LOGS/side_by_side_no_kernels.jsonl"
step "device data (benchmarks/device_data.py)" 45 python3 -m benchmarks.device_data --repeats 5

# ---- 3-4. the cupy tests in the background while every spec trains --------------------------------------------
section "cupy tests (in the background) and every spec on --backend $BACKEND"
TIMEOUT_FLAG=()
python3 -c "import pytest_timeout" 2>/dev/null && TIMEOUT_FLAG=(--timeout 40)
TESTS_CAP=$(box 170)
# --continue-on-collection-errors: a test file importing a package this machine lacks must not stop the rest
timeout -k 5 "$TESTS_CAP" python3 -m pytest -k cupy "${TIMEOUT_FLAG[@]}" -p no:cacheprovider \
    --continue-on-collection-errors tests > "$LOGS/pytest.log" 2>&1 &
TESTS_PID=$!

# why_skip SPEC: prints why this machine cannot train SPEC (nothing when it can)
why_skip() {
    local spec=$1 dir path
    if grep -qE '^\s*env\s' "$spec" && ! python3 -c "import gymnasium" 2>/dev/null; then
        echo "gymnasium is not installed (put its wheel in .whl/)"; return
    fi
    dir=$(dirname "$spec")
    for path in $(grep -oE '(path=|text\()"[^"]+"' "$spec" | sed -E 's/.*"([^"]+)"/\1/'); do
        [ -e "$dir/$path" ] || { echo "its data $path is not on this machine"; return; }
    done
}
# train_one SPEC: one brief training run, its result in $LOGS/specs/NAME.result
train_one() {
    local spec=$1 name why brief cap begin rc
    name=$(basename "$spec" .nn)
    why=$(why_skip "$spec")
    if [ -n "$why" ]; then echo "skip   $name: $why" > "$LOGS/specs/$name.result"; return; fi
    cap=$(BUDGET=$((BUDGET - MPI_RESERVE)) box "$SPEC_TIMEOUT")  # leave the 2-rank run its time
    if ((cap < 5)); then echo "NOTRUN $name: the budget was spent" > "$LOGS/specs/$name.result"; return; fi
    grep -qE '^\s*env\s' "$spec" && brief="steps=1" || brief="epochs=1"
    begin=$SECONDS
    timeout -k 5 "$cap" python3 -m nngraph train "$spec" --backend "$BACKEND" --set "$brief" --quiet \
        --out "$(mktemp -d)/run" > "$LOGS/specs/$name.log" 2>&1
    rc=$?
    if ((rc == 0)); then echo "pass   $name ($((SECONDS - begin))s, $brief)"
    elif ((rc == 124 || rc == 137)); then echo "FAIL   $name: stopped at ${cap}s"
    else echo "FAIL   $name: exit status $rc: $(grep -v '^\s*$' "$LOGS/specs/$name.log" | tail -1 | cut -c1-160)"
    fi > "$LOGS/specs/$name.result"
}
export -f why_skip train_one box left elapsed
export LOGS BACKEND SPEC_TIMEOUT BUDGET START MPI_RESERVE
rm -f "$LOGS"/specs/*.result
SPEC_FILES=()
for pattern in ${GPU_SH_SPECS:-*.nn}; do SPEC_FILES+=(specs/$pattern); done  # each pattern globbed here
# shellcheck disable=SC2016 # $1 is expanded by the inner bash
printf '%s\n' "${SPEC_FILES[@]}" | xargs -P "$JOBS" -I{} bash -c 'train_one "$1"' _ {}
{
    echo "specs on --backend $BACKEND:"
    cat "$LOGS"/specs/*.result 2>/dev/null
    for kind in pass FAIL skip NOTRUN; do
        printf '%s %s  ' "$(cat "$LOGS"/specs/*.result 2>/dev/null | grep -c "^$kind")" "$kind"
    done; echo
} | tee "$LOGS/specs.txt"

wait "$TESTS_PID"; rc=$?
((rc == 124 || rc == 137)) && why=", stopped at its time box" || why=""
section "cupy tests (pytest -k cupy tests, ${TESTS_CAP}s box): exit status $rc$why"
grep -E '^(FAILED|ERROR)|passed|failed|skipped|error' "$LOGS/pytest.log" | tail -40

# ---- 5. issue 16: two ranks on the GPU ---------------------------------------------------------------------
if python3 -c "import mpi4py" 2>/dev/null && command -v mpiexec > /dev/null; then
    step "mpiexec -n 2 digits_mlp on $BACKEND" "$MPI_RESERVE" \
        env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        mpiexec -n 2 python3 -m nngraph train specs/digits_mlp.nn --backend "$BACKEND" --set epochs=1 \
        --out "$(mktemp -d)/run"
else
    section "mpiexec -n 2: not run: mpi4py or mpiexec is not on this machine"
fi
section "done in $(elapsed)s; logs in $LOGS"
exec >&- 2>&-
wait "$TEE_PID"  # tee writes the end of gpu.log before the script returns
