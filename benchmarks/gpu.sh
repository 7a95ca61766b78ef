#!/usr/bin/env bash
# GPU numbers in one command (issue 12). On a machine with Python 3.12, JAX (with CUDA), onnxruntime,
# pytest-benchmark and pluggy, but no TensorFlow, no Keras and no network: installs zoo (not editable) and the
# wheels it needs from the wheelhouse benchmarks/wheelhouse.sh built (.whl/), with no dependency resolution
# and no index, into a folder of its own; runs the benchmark suite under KERAS_BACKEND=jax on GPU and CPU;
# and writes the pytest-benchmark JSON into benchmarks/results/<machine id>/NNNN_jax-<machine>-<date>.json.
#
#   benchmarks/gpu.sh [--wheels DIR] [--results DIR] [pytest options, e.g. --zoo-seconds 1 --zoo-models 'fn_*']
#
# CI runs it on CPU with TensorFlow made unimportable (tests/test_gpu_script.py), so it is known to work
# before a GPU is lent; there the GPU cases skip with their reason.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
WHEELS=$REPO/.whl
RESULTS=$REPO/benchmarks/results
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS=$(cd "$2" && pwd); shift 2 ;;
        --results) mkdir -p "$2"; RESULTS=$(cd "$2" && pwd); shift 2 ;;
        *) break ;;
    esac
done
if ! ls "$WHEELS"/zoo-*.whl >/dev/null 2>&1; then
    echo "gpu.sh: no zoo wheel in $WHEELS; run benchmarks/wheelhouse.sh first (where PyPI is reachable)" >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" "$WHEELS"/*.whl
export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=2

# The machine (the first GPU JAX sees, else the processor) and the date name the results file.
MACHINE=$("$PYTHON" - <<'PY'
import re
import jax
from zoo.environment import cpu_name
gpus = [d.device_kind for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]
print(re.sub(r"[^A-Za-z0-9.]+", "-", gpus[0] if gpus else "cpu " + cpu_name()).strip("-"))
PY
)
NAME="jax-$MACHINE-$(date -u +%Y%m%d)"
# The suite runs from a copy outside the checkout, so that `import zoo` finds the installed package, not ./zoo.
mkdir -p "$WORK/run/benchmarks"
cp "$REPO"/benchmarks/*.py "$WORK/run/benchmarks/"
cp -r "$REPO"/benchmarks/peers "$WORK/run/benchmarks/"  # the plain-script peers (test_peers.py), PyTorch's included
cd "$WORK/run"
"$PYTHON" -c 'import jax, keras, zoo; print(f"gpu.sh: zoo from {zoo.__file__}, keras {keras.__version__}, jax {jax.__version__} {jax.devices()}")'
status=0
"$PYTHON" -m pytest benchmarks -p no:cacheprovider -rs --benchmark-enable -W ignore::DeprecationWarning \
    --zoo-devices gpu,cpu --benchmark-storage="file://$RESULTS" --benchmark-save="$NAME" \
    --benchmark-columns=median,iqr,rounds --benchmark-sort=name "$@" || status=$?
echo "gpu.sh: results in $(ls -t "$RESULTS"/*/*"_$NAME.json" 2>/dev/null | head -1)"
exit $status
