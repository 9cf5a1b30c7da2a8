# precisionmed: `make demo` and `make test` work on a fresh machine (they create .venv).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests and the demo read the shared datasets from this mirror when it exists; real users
# leave it unset and the data layer downloads from the canonical URLs into ~/.cache/precisionmed.
SHARED_DATA := $(abspath ../shared/data)
export PRECISIONMED_DATA_MIRROR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-all bench lint format lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency declarations change.
$(STAMP): $(BIN)/python pyproject.toml requirements/constraints.txt
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/precisionmed imaging train --dataset pneumoniamnist \
		--max-epochs 3 --seed 0 --out $(DEMO_OUT) --overwrite
	$(BIN)/precisionmed imaging evaluate $(DEMO_OUT) --dataset pneumoniamnist --split test
	@echo "Model, metrics, model card and plots: $(DEMO_OUT)/"

test: install
	$(BIN)/python -m pytest -m "not slow" -q

test-all: install
	$(BIN)/python -m pytest -q

bench: install
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: install
	{ echo "# Constraints: the versions the tests ran with (pip freeze of .venv, Python 3.11, CPU torch)."; \
	  echo "# Regenerate with: make lock"; $(BIN)/pip freeze --exclude-editable; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache
