# ganbench: `make demo` (set-up + the default suite on CPU) and `make test` (ruff + pytest).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUITE ?= suites/quick.yaml
REPORT ?= reports/$(basename $(notdir $(SUITE)))
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: install data demo test lint format clean gpu-check gpu-wheels

# torch and torchvision are resolved together by pip (CUDA builds, which also run on CPU).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST offline from Debian's dataset-fashion-mnist when root with apt,
# else torchvision's download; either way it lands in data/FashionMNIST/raw.
data: install
	@if [ ! -f $(DEBIAN_FMNIST) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's dataset-fashion-mnist"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
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
	$(BIN)/ruff check ganbench tests benchmarks
	$(BIN)/ruff format --check ganbench tests benchmarks

format: install
	$(BIN)/ruff format ganbench tests benchmarks
	$(BIN)/ruff check --fix ganbench tests benchmarks

test: data lint
	$(BIN)/python -m pytest -q

# Every CUDA path once, time-boxed (8 minutes at most on a GPU): reports/gpu-check/gpu_check.md.
# Needs no make install where the Python has the dependencies (see benchmarks/gpu_check.sh).
gpu-check:
	bash benchmarks/gpu_check.sh $(GPU_CHECK_ARGS)

# The packages a GPU image with torch but no network lacks, as cp312 wheels in .whl/
# (the versions this venv resolved), for benchmarks/gpu_check.sh to unpack there.
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions \
	pytorch-image-generation-metrics
gpu-wheels: install
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d .whl \
		$$($(BIN)/python -m pip list --format=freeze 2>/dev/null | grep -i -E \
			"^($$(echo $(GPU_WHEELS) | tr ' ' '|'))==" )

clean:
	rm -rf $(VENV) data reports/*/ .pytest_cache .ruff_cache
