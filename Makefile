# The two commands a newcomer needs (README):
#   make dev    set up everything and run the platform (dagster dev on embedded defaults)
#   make test   set up everything, lint, type-check and run the whole test suite (what CI runs)
# The inner loop:
#   make check  lint, format check, type check and the fast tests (no services), ~1 minute
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_BIN := /usr/lib/postgresql/15/bin
# every external program is its own package under programs/ (found, not listed)
PROGRAMS := $(patsubst %/pyproject.toml,%,$(wildcard programs/*/pyproject.toml))

.PHONY: dev test check lint format typecheck fast install compile system-deps bench clean lock

dev: compile system-deps
	$(BIN)/python -m localdev

# 4 workers on 2 cores: most tests wait on services, not on the CPU; each worker starts its
# own session services (broker, S3, PostgreSQL) on free ports
test: compile system-deps lint typecheck
	$(BIN)/pytest -n 4 --dist loadfile

check: compile lint typecheck fast

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck:
	$(BIN)/mypy

fast:
	$(BIN)/pytest -q -m "not slow"

install: $(STAMP)

# Bytecode and the provenance caches, written explicitly: with PYTHONDONTWRITEBYTECODE=1 (CI,
# these machines) Python never writes .pyc files, so every import of the code location would
# compile the project from source. compileall only recompiles what changed; loading the
# definitions once writes the per-file analyses behind code versions (__pycache__/*.prov-*).
compile: install
	$(BIN)/python -m compileall -q -j 0 platform_assets resources sensors localdev $(PROGRAMS)
	PLATFORM_HOME=$${PLATFORM_HOME:-/tmp/platform-compile-home} $(BIN)/python -W ignore -c "import platform_assets.definitions"

$(STAMP): pyproject.toml constraints.txt $(addsuffix /pyproject.toml,$(PROGRAMS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	# torch==2.13.0 resolves to a CPU wheel (a bare `torch` requirement would pull GBs of CUDA packages)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[local,spark,nlp,test]' $(addprefix -e ,$(PROGRAMS))
	touch $(STAMP)

# Binaries the platform and the tests need from Debian, installed when missing: PostgreSQL 15
# and a JRE (services the tests start: goals database, Spark) and bubblewrap (the sandbox of
# external programs run locally, resources/shared/sandbox.py; without it the platform warns
# that the local runner is no security boundary).
system-deps:
	@if [ ! -x $(PG_BIN)/initdb ] || ! command -v java >/dev/null || ! command -v bwrap >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq postgresql openjdk-17-jre-headless bubblewrap >/dev/null; \
	fi

bench: compile
	$(BIN)/python bench/bench_load_time.py
	$(BIN)/python bench/bench_enkf.py
	$(BIN)/python bench/bench_propagation.py
	$(BIN)/python bench/bench_nlp.py

clean:
	rm -rf $(VENV) .platform .mypy_cache .ruff_cache

# re-resolve the newest allowed versions and pin them again
lock:
	rm -rf /tmp/odp-lock && $(PYTHON) -m venv /tmp/odp-lock
	/tmp/odp-lock/bin/pip install --quiet -e '.[local,spark,nlp,test]' $(addprefix -e ,$(PROGRAMS))
	{ head -3 constraints.txt; /tmp/odp-lock/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.new && mv constraints.new constraints.txt
