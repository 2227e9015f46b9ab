# Quick start:  make report   (set-up, then the main job)
#               make test     (set-up, then the test suite)
# TORCH_SPEC picks the torch build installed before the project (default: the CPU wheel).

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
# worker processes of the report's verdicts and worst-case studies (the results do not depend on it)
JOBS       ?= $(shell nproc 2>/dev/null || echo 1)
# pytest-xdist workers of `make test` (whole test files per worker; 0 runs in one process)
TEST_JOBS  ?= $(JOBS)
BIN         = $(VENV)/bin
STAMP       = $(VENV)/.bntheory-installed

.PHONY: setup report test test-thorough test-gpu lint benchmark clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test,ray]"
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/bntheory report --out reports --jobs $(JOBS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

test-thorough: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile --hypothesis-profile thorough -m "slow or not slow" $(PYTEST_ARGS)

# A GPU machine whose Python already has a CUDA torch and no internet (GPU_PYTHON): install
# the project without dependencies, run the gpu tests, the suite on CUDA, and time a sweep.
GPU_PYTHON ?= python3
test-gpu:
	$(GPU_PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(GPU_PYTHON) -m pytest -q -m gpu --device cuda $(PYTEST_ARGS)
	$(GPU_PYTHON) -m pytest -q --device cuda $(PYTEST_ARGS)
	$(GPU_PYTHON) benchmarks/gpu_sweep.py --steps 300 --device cuda

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: $(STAMP)
	$(BIN)/python benchmarks/closed_forms.py

clean-venv:
	rm -rf $(VENV)
