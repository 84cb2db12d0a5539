# ganbench: `make demo` (set-up + the default suite on CPU) and `make test` (ruff + pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCKED := $(VENV)/.locked
SUITE ?= suites/quick.yaml
REPORT ?= reports/$(basename $(notdir $(SUITE)))
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

LOCK := lock/requirements.txt
LOCK_PYTHON := 3.10
PYTEST_WORKERS ?= 2

.PHONY: install lock data demo test test-quick wheel-check lint format clean gpu-check gpu-wheels

# The tested set: a new venv with every package at the version and hash in the lock (dev
# extra included), nothing resolved today and nothing else; then ganbench itself,
# editable, without dependencies (again when pyproject changes).
$(LOCKED): $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	touch $(LOCKED)

$(STAMP): $(LOCKED) pyproject.toml
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

# uv alone, at the lock's version, for make lock (which must run when pyproject asks for
# what the lock lacks, so it cannot need make install).
$(BIN)/uv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps \
		"uv==$$(sed -n 's/^uv==\([^ ;]*\).*/\1/p' $(LOCK) | head -n 1)"

# A fresh resolution of pyproject's ranges for every supported Python (uv's universal
# mode, hashes from the registry), torch held at lock/torch.txt; prints what moved.
lock: $(BIN)/uv
	@cp $(LOCK) $(LOCK).previous
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version $(LOCK_PYTHON) \
		--generate-hashes --upgrade -c lock/torch.txt --custom-compile-command "make lock" \
		--no-progress --quiet -o $(LOCK)
	@$(BIN)/python lock/diff.py $(LOCK).previous $(LOCK); rm -f $(LOCK).previous
	@echo "then: make install (a new .venv from the lock), make test, and commit $(LOCK)"

# Fashion-MNIST offline from Debian's dataset-fashion-mnist where apt runs as root (or
# through passwordless sudo, as on hosted CI runners), else torchvision's download;
# either way it lands in ganbench's data folder (ganbench data fetch says where:
# $GANBENCH_DATA, else data/ in ganbench's home).
AS_ROOT = $(shell [ "$$(id -u)" = 0 ] && echo env || (sudo -n true 2>/dev/null && echo sudo))
data: install
	@if [ ! -f $(DEBIAN_FMNIST) ] && [ -n "$(AS_ROOT)" ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's dataset-fashion-mnist"; \
		($(AS_ROOT) apt-get update -qq && $(AS_ROOT) DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq dataset-fashion-mnist >/dev/null) || \
			echo "apt-get failed; falling back to torchvision's download"; \
	fi
	$(BIN)/ganbench data fetch fashion-mnist

# The suite, the generation latency of its first run's generator, then the report.
demo: data
	$(BIN)/ganbench train-suite $(SUITE)
	$(BIN)/ganbench latency --suite $(SUITE) --run '*' --batch-sizes 1,32,256 --min-time 1 \
		--output reports/latency/demo
	$(BIN)/ganbench report $(REPORT) --latency reports/latency/demo

lint: install
	$(BIN)/ruff check ganbench tests benchmarks lock
	$(BIN)/ruff format --check ganbench tests benchmarks lock

format: install
	$(BIN)/ruff format ganbench tests benchmarks lock
	$(BIN)/ruff check --fix ganbench tests benchmarks lock

test: data lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal

# The inner loop: no lint, no slow tests, stop at the first failure.
test-quick: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not slow" -x

# The wheel outside the checkout: built, installed from the lock into a fresh venv, and
# run from an empty folder (CI runs it after make test).
wheel-check: install
	bash .ci/wheel_check.sh

# Every CUDA path once, time-boxed (8 minutes at most on a GPU): reports/gpu-check/gpu_check.md.
# Needs no make install where the Python has the dependencies (see benchmarks/gpu_check.sh).
gpu-check:
	bash benchmarks/gpu_check.sh $(GPU_CHECK_ARGS)

# The packages a GPU image with torch but no network lacks, as cp312 wheels in .whl/
# (the versions this venv resolved), for benchmarks/gpu_check.sh to unpack there.
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions platformdirs \
	pytorch-image-generation-metrics
gpu-wheels: install
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d .whl \
		$$($(BIN)/python -m pip list --format=freeze 2>/dev/null | grep -i -E \
			"^($$(echo $(GPU_WHEELS) | tr ' ' '|'))==" )

clean:
	rm -rf $(VENV) data reports/*/ .pytest_cache .ruff_cache dist build
