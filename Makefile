# The two README commands: `make run` and `make test`. Every target builds .venv when needed.
# The gates CI runs before the tests: `make lint` (ruff) and `make typecheck` (mypy, configured in
# pyproject.toml). `make test-fast` skips the tests marked slow (end-to-end training runs).
# torch is installed first and pinned: 2.13.0 is the CPU build this project is developed against;
# an unpinned torch would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: run test test-fast bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PIN)
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,pretrained,serve,serve-test,export]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/seqlab claims --quick --out reports/claims

# numpy's BLAS on one thread too, as tests/conftest.py sets torch's: small solves are faster so.
test: $(VENV)/.installed-dev
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed-dev
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/blocks.py
	$(BIN)/python benchmarks/compare.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
