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

# The demo's default models, trained once into $(DEMO_MODELS) and reused (delete it to retrain).
DEMO_MODELS := $(DEMO_OUT)/models
DEMO_MODEL_DIRS := $(addprefix $(DEMO_MODELS)/,imaging survival treatment)

$(DEMO_MODELS)/imaging/config.json: | $(STAMP)
	$(BIN)/precisionmed imaging train --dataset pneumoniamnist --max-epochs 2 --seed 0 --out $(@D) --overwrite
$(DEMO_MODELS)/survival/config.json: | $(STAMP)
	$(BIN)/precisionmed clinical train --dataset whas500 --model coxph --seed 0 --out $(@D)
$(DEMO_MODELS)/treatment/config.json: | $(STAMP)
	$(BIN)/python examples/cases/nhefs_complete_cases.py $(DEMO_OUT)/nhefs-complete.csv
	$(BIN)/precisionmed treatment fit --csv $(DEMO_OUT)/nhefs-complete.csv --treatment-column qsmk \
		--treated-value "quit smoking" --outcome-column wt82_71 --better lower \
		--covariates age,sex,wt71,smokeintensity,smokeyrs --out $(@D) --overwrite

demo: install $(addsuffix /config.json,$(DEMO_MODEL_DIRS))
	@for case in examples/cases/*.json examples/cases/*.yaml; do name=$$(basename $${case%.*}); \
		$(BIN)/precisionmed report $$case --models $(DEMO_MODELS) --out $(DEMO_OUT)/reports/$$name \
		|| exit 1; done
	@echo "Patient reports (open in a browser): $(DEMO_OUT)/reports/*/report.html"

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
