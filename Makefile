# pushworker: `make demo` runs the pipeline on embedded defaults; `make test` runs every test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
# A change to pyproject.toml or to the lock reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(wildcard $(LOCK)) | cksum | cut -d' ' -f1)
# Integration and fault suites set Django up themselves (per-run database), so pytest-django stays out.
REAL := -p no:django -W ignore::pytest.PytestConfigWarning

.PHONY: install lock demo test lint docs unit integration faults bench bench-db faults-report faults-report-full \
	emulator-bench clean compose-test compose-up browser browser-deps scale-test promtool-deps alerts \
	api-fuzz

install: $(STAMP)

# Exactly the locked, hashed versions; then the project itself without resolving anything. pip
# check fails when pyproject.toml gained a dependency the lock does not have yet (run make lock).
# -qq keeps errors only: a machine's pip.conf may name local indexes that lack some projects, and
# pip warns once per package (130 lines here) although the registry serves them.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -qq --no-deps -e .
	$(BIN)/python -m pip check || { echo "$(LOCK) is out of date: run make lock" >&2; exit 1; }
	rm -f $(VENV)/.installed-*
	touch $@

# Re-resolve requirements.lock from pyproject.toml (runtime + dev + flower, hashes of every
# wheel, any platform, Python >= 3.11). uv only writes the lock: it is not a dependency.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra flower --generate-hashes \
		--universal --python-version 3.11 --no-header --quiet -o $(LOCK)

demo: $(STAMP)
	$(BIN)/pushworker demo

test: lint docs unit alerts integration api-fuzz faults browser scale-test

lint: $(STAMP)
	$(BIN)/ruff check pushworker tests bench docker
	$(BIN)/ruff format --check pushworker tests bench docker
	$(BIN)/mypy pushworker/mipush pushworker/emulator

# The documentation site (mkdocs.yml) into var/site/. --strict fails on a broken link or anchor
# and on a page left out of the navigation; mkdocs's -q would hide those warnings from --strict,
# so its log is kept and shown only when the build fails.
docs: $(STAMP)
	@mkdir -p var
	@$(BIN)/mkdocs build --strict 2> var/mkdocs.log || { cat var/mkdocs.log >&2; exit 1; }
	@echo "docs: $$(ls docs/*.md | wc -l) pages built into var/site/ (mkdocs build --strict)"

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest $(REAL) tests/integration -q

faults: $(STAMP)
	$(BIN)/pytest $(REAL) tests/faults -q

# Debian packages a suite needs, installed once; apt's hundreds of lines are kept in var/apt.log and
# shown only when the install fails. Nothing is printed when the package is already there.
APT_INSTALL = sh -c 'mkdir -p var && echo "apt-get install $$*" && \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	-o DPkg::Lock::Timeout=600 --no-install-recommends "$$@"; } >var/apt.log 2>&1 || \
	{ cat var/apt.log >&2; exit 1; }' apt-install

# Schemathesis against the real `pushworker web`, from its own OpenAPI document (issue 21): default
# checks, every phase (stateful too), seed 21, a 60 s budget (PUSHWORKER_FUZZ_SECONDS). Zero failures.
api-fuzz: $(STAMP)
	$(BIN)/pytest $(REAL) tests/fuzz -q

# docs/alerts.yml checked by promtool, and its outage rule by a real Prometheus server scraping a
# real worker and web while the emulator is down for two minutes (tests/alerts, about 3 minutes).
# Debian's prometheus package provides both binaries; its service is not started (no init here).
promtool-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || $(APT_INSTALL) prometheus

alerts: $(STAMP) promtool-deps
	$(BIN)/pytest tests/unit/test_alerts.py -q -rs
	$(BIN)/pytest $(REAL) tests/alerts -q

# The operator's admin in a real browser (engineer H7): Debian's Chromium and its driver, installed
# here once and never downloaded at test time (Selenium is handed the driver's path), and a CJK
# font (fonts-noto-cjk), without which every Chinese name is drawn as empty boxes.
CHROMEDRIVER ?= /usr/bin/chromedriver

browser-deps:
	@test -x $(CHROMEDRIVER) && fc-list :lang=zh | grep -q . || \
		$(APT_INSTALL) chromium chromium-driver fonts-dejavu-core fonts-noto-cjk

browser: $(STAMP) browser-deps
	$(BIN)/pytest $(REAL) tests/browser -q

# Worker hosts in network namespaces (issue 12): needs root and `ip netns`, else skipped with the
# reason; needs PUSHWORKER_TEST_DATABASE_URL (PostgreSQL), as hosts share no SQLite file.
scale-test: $(STAMP)
	$(BIN)/pytest $(REAL) tests/scale -q -rs

# Issue 24's goals table, then issues 9 and 23's (bench/README.md): backlog drains on SQLite and
# PostgreSQL beside the client loop and a naive Celery task, an urgent event behind a bulk backlog,
# a Xiaomi blip, a 60 s outage in a stream (BENCH_ARGS="--outage-seconds 600" for issue 24's ten
# minutes), .delay() cost, streams, a provider-latency sweep, CPU, requests and memory per event,
# copies in the delivery path. Each part starts its own private Redis, emulator and database
# (PostgreSQL at PUSHWORKER_BENCH_DATABASE_URL, default the local server; left out when none
# answers). 11-14 min on the shared 2-core machine.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

emulator-bench: $(STAMP)
	$(BIN)/python bench/emulator_rps.py

# Query plans and times at 10,000 and 5,000,000 deliveries, bytes per event, purge rate (bench/
# README.md). PostgreSQL at PUSHWORKER_BENCH_DATABASE_URL (default the local server); it creates and
# drops its own database. About 5 minutes on 2 cores.
bench-db: $(STAMP)
	$(BIN)/python bench/db_scale.py --json var/db_scale.json

faults-report: $(STAMP)
	$(BIN)/python bench/faults.py

# Scenario 16 (a Xiaomi outage) at its full ten minutes, each variant: about 50 minutes in all.
faults-report-full: $(STAMP)
	$(BIN)/python bench/faults.py --full --only 16a,16b,16c,16d

# The compose stack built without a registry and run for real (docker/compose_test.py). It installs
# Debian's docker.io and starts dockerd when missing, so it needs root, as CI has.
compose-test:
	python3 docker/compose_test.py

# `docker compose up -d` that names each image it cannot pull and the variable choosing it
# (docker/compose_up.py), e.g. make compose-up COMPOSE="--profile ops".
compose-up:
	python3 docker/compose_up.py $(COMPOSE)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
