# pushworker: `make demo` runs the pipeline on embedded defaults; `make test` runs every test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Integration and fault suites set Django up themselves (per-run database), so pytest-django stays out.
REAL := -p no:django -W ignore::pytest.PytestConfigWarning

.PHONY: install demo test lint unit integration faults bench faults-report emulator-bench clean \
	browser browser-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,flower]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/pushworker demo

test: lint unit integration faults browser

lint: $(STAMP)
	$(BIN)/ruff check pushworker tests bench celeryconfig.py
	$(BIN)/mypy pushworker/mipush pushworker/emulator

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest $(REAL) tests/integration -q

faults: $(STAMP)
	$(BIN)/pytest $(REAL) tests/faults -q

# The operator's admin in a real browser (engineer H7): Debian's Chromium and its driver, installed
# here once and never downloaded at test time (Selenium is handed the driver's path).
CHROMEDRIVER ?= /usr/bin/chromedriver

browser-deps:
	@test -x $(CHROMEDRIVER) || { apt-get update -q && \
		apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends \
		chromium chromium-driver fonts-dejavu-core; }

browser: $(STAMP) browser-deps
	$(BIN)/pytest $(REAL) tests/browser -q

bench: $(STAMP)
	$(BIN)/python bench/enqueue.py
	$(BIN)/python bench/e2e.py
	$(BIN)/python bench/emulator_rps.py

faults-report: $(STAMP)
	$(BIN)/python bench/faults.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
