#!/usr/bin/env bash
# The GPU verification kit: `make gpu-check` (or `bash benchmarks/gpu_check.sh [OPTIONS]`,
# options passed to `ganbench selftest gpu`, e.g. --output DIR --budget 420).
#
# Installs nothing when the Python it finds already has ganbench's dependencies: the
# project's .venv where there is one, else python3. Where some are missing (a GPU image
# with torch but no network lacks pydantic and pytorch-image-generation-metrics), wheels
# brought along in .whl/ (`make gpu-wheels`) are unpacked into /tmp/ganbench-site and
# nothing else is touched; ganbench itself is imported from this checkout.
#
# On a lent machine whose results come back only from $OUT (a few files), e.g.:
#   bash benchmarks/gpu_check.sh --output $OUT/gpu-check 2>&1 | tee $OUT/console.log
#   tar czf $OUT/gpu-check.tgz --exclude='*.pt' -C $OUT gpu-check
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
NEEDS='import pydantic, pytorch_image_generation_metrics, typer, rich, pandas, scipy, psutil, pynvml, filelock, platformdirs, yaml, torchvision, matplotlib, tqdm, pytest'
if ! "$PY" -c "$NEEDS" 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    echo "installing the missing dependencies from .whl/ into /tmp/ganbench-site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/ganbench-site .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/ganbench-site:$PYTHONPATH"
  fi
  if ! "$PY" -c "$NEEDS"; then
    echo "ganbench's dependencies are missing for $PY (the import above says which):"
    echo "run make install, or bring cp312 wheels in .whl/ (make gpu-wheels)"
    exit 2
  fi
fi
exec "$PY" -m ganbench selftest gpu "$@"
