#!/usr/bin/env bash
# The GPU verification kit: `make gpu-check` (or `bash benchmarks/gpu_check.sh [OPTIONS]`,
# options passed to `ganbench selftest gpu`, e.g. --output DIR --budget 420).
#
# Installs nothing when the Python it finds already has ganbench's dependencies: the
# project's .venv where there is one, else python3. Where pydantic or
# pytorch-image-generation-metrics are missing (a GPU image with torch but no network),
# wheels brought along in .whl/ are unpacked into /tmp/ganbench-site (nothing else is
# touched); ganbench itself is imported from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import pydantic, pytorch_image_generation_metrics, typer, rich, pandas' 2>/dev/null; then
  if compgen -G ".whl/*.whl" >/dev/null; then
    echo "installing the missing dependencies from .whl/ into /tmp/ganbench-site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/ganbench-site .whl/*.whl
    export PYTHONPATH="/tmp/ganbench-site:$PYTHONPATH"
  else
    echo "ganbench's dependencies are missing for $PY and there is no .whl/ to install from:"
    echo "run make install, or bring wheels (docs/measurement.md, GPU check)"
    exit 2
  fi
fi
exec "$PY" -m ganbench selftest gpu "$@"
