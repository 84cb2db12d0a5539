#!/usr/bin/env bash
# ganbench as a user gets it: the wheel built from this checkout, installed with the locked
# set into a fresh virtual environment outside the checkout (registries only), and run
# from an empty folder with a home of its own. `make wheel-check`; CI runs it after the
# tests. Needs the checkout's .venv (make install) to build the wheel and to find the data.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/ganbench-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "build the wheel"
rm -rf build  # setuptools would ship what a stale build/lib still holds
.venv/bin/python -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel=$(ls "$work"/dist/ganbench-*.whl)
echo "$wheel"

step "a fresh virtual environment from lock/requirements.txt, then the wheel"
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --require-hashes --no-deps \
    -r lock/requirements.txt
"$work/venv/bin/python" -m pip install --quiet --no-deps "$wheel"
"$work/venv/bin/python" -m pip check

# Fashion-MNIST where `make data` put it; everything else in a new, empty home.
data=$(.venv/bin/python -c "from ganbench.home import data_root; print(data_root())")
export GANBENCH_DATA=$data GANBENCH_HOME=$work/home
mkdir "$work/empty" && cd "$work/empty"
ganbench=$work/venv/bin/ganbench
installed=$("$work/venv/bin/python" -c "import ganbench; print(ganbench.__file__)")
case "$installed" in "$checkout"/*) echo "imported from the checkout: $installed"; exit 1 ;; esac

step "ganbench --version"
"$ganbench" --version
step "ganbench suites"
"$ganbench" suites
step "ganbench train-suite quick --dry-run"
"$ganbench" train-suite quick --dry-run
step "10 iterations of one quick configuration (recorded in the history), then report and latency as typed"
"$ganbench" train-suite quick --only alternating --seeds 0 --metrics none \
    --set budget.iterations=10 --record
"$ganbench" report
"$ganbench" latency --batch-sizes 1,32,256 --min-time 0.2
step "the history from the wheel: its migrations ran, show and publish read it"
"$ganbench" history show
"$ganbench" history publish dashboard
test -f "$GANBENCH_HOME/history.sqlite" && test -f dashboard/index.html

step "the run exported from the wheel to TensorBoard and MLflow (their defaults: ./runs, ./mlflow.db)"
"$ganbench" export reports/quick --to tensorboard
"$ganbench" export reports/quick --to mlflow
ls runs/quick/alternating-seed0/events.out.tfevents.* >/dev/null && test -f mlflow.db

step "what it left where"
test -f reports/quick/suite.json && test -f "$GANBENCH_HOME/suites.json"
if [ -e data ]; then echo "a data/ folder was written into the working folder"; exit 1; fi
find "$work/empty" -maxdepth 2 | sort
echo "wheel check: ok"
