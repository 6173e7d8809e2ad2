# pushworker: `make demo` runs the pipeline on embedded defaults; `make test` runs every test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Integration and fault suites set Django up themselves (per-run database), so pytest-django stays out.
REAL := -p no:django -W ignore::pytest.PytestConfigWarning

.PHONY: install demo test lint unit integration faults bench faults-report emulator-bench clean \
	compose-test

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,flower]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/pushworker demo

test: lint unit integration faults

lint: $(STAMP)
	$(BIN)/ruff check pushworker tests bench celeryconfig.py docker
	$(BIN)/mypy pushworker/mipush pushworker/emulator

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest $(REAL) tests/integration -q

faults: $(STAMP)
	$(BIN)/pytest $(REAL) tests/faults -q

bench: $(STAMP)
	$(BIN)/python bench/enqueue.py
	$(BIN)/python bench/e2e.py
	$(BIN)/python bench/emulator_rps.py

faults-report: $(STAMP)
	$(BIN)/python bench/faults.py

# The compose stack built without a registry and run for real (docker/compose_test.py). It installs
# Debian's docker.io and starts dockerd when missing, so it needs root, as CI has.
compose-test:
	python3 docker/compose_test.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
