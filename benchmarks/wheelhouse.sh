#!/usr/bin/env bash
# Builds the wheelhouse that benchmarks/gpu.sh installs from: zoo itself (a wheel of this checkout) and the
# libraries a GPU machine with Python 3.12, JAX, onnxruntime, pytest-benchmark and pluggy but no TensorFlow,
# Keras or network lacks: keras and what keras needs beyond such an image (namex, optree), for CPython 3.12
# on x86-64 Linux, at the versions installed here. Run it here, where PyPI is reachable; it writes DIR
# (default .whl/, which git ignores) and prints its size (what travels to the GPU machine must stay small).
#
#   benchmarks/wheelhouse.sh [DIR]            zoo + keras, namex, optree
#   benchmarks/wheelhouse.sh --zoo-only DIR   zoo alone, no network (what CI uses to exercise gpu.sh on CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO_ONLY=0
if [ "${1:-}" = "--zoo-only" ]; then ZOO_ONLY=1; shift; fi
DEST=${1:-.whl}
PYTHON=${PYTHON:-python3}
# keras's own requirements that the GPU image does not have (the image has absl-py, h5py, ml-dtypes, numpy,
# packaging, rich; see /work/.library/device/KINDS.md, "Python packages already there").
NEEDED=(keras namex optree)

rm -rf "$DEST"
mkdir -p "$DEST"
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$DEST" .
if [ "$ZOO_ONLY" = 0 ]; then
    pins=()
    for name in "${NEEDED[@]}"; do
        pins+=("$name==$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")")
    done
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --dest "$DEST" "${pins[@]}"
fi
ls -1 "$DEST"
du -sh "$DEST"
