# Two commands do all the set-up: `make run` (the main job) and `make test` (the suite).
# Each bootstraps uv (from PyPI, with the machine's python3) and the locked environment.

PYTHON ?= python3
export PYTHON
UV := ./tools/uv
RUN := $(UV) run --locked --all-extras

.PHONY: run test test-slow test-trainers test-verifiers-v1 check env env-run sandbox-deps browser-deps bench clean

# Everything: the extras (inspect-ai, verifiers, datasets) and the dev tools, for `make test`.
env:
	@$(UV) sync --locked --all-extras

# Only what the main job needs (~110 MB, not ~600 MB: no extras, no dev tools), with uv's
# progress; --inexact keeps whatever `make env` installed before.
env-run:
	@$(UV) sync --locked --inexact --no-dev

# bubblewrap jails the model's python tool; install it where we can (root, Debian).
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
	      || echo "warning: could not install bubblewrap; the sandbox falls back to plain process isolation"; \
	  else echo "warning: bwrap missing and not root; the sandbox falls back to plain process isolation"; fi; }

# Debian's chromium: the report tests open each page in it headless (only when missing).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the report's browser tests will be skipped"; \
	  else echo "warning: chromium missing and not root; the report's browser tests will be skipped"; fi; }

run: env-run sandbox-deps
	$(UV) run --no-sync attnrl run --html

# The suite on every core (pytest-xdist, one process per worker; JOBS=1 runs it serially).
# Tests marked slow have their own tier, `make test-slow`; trainers and verifiers v1 too.
# Safe in the background (`make test &`) and beside another `make test`: the tests restore
# SIGINT for the commands they stop, and share only what the sandbox locks per process.
JOBS ?= auto
test: env sandbox-deps browser-deps
	$(RUN) pytest -n $(JOBS) -m "not slow"

test-slow: env sandbox-deps
	$(RUN) pytest -n $(JOBS) -m slow

# The trainer tier: verl, TRL and OpenRLHF's own code running attnrl's adapters, in its own
# environment (torch is no dependency of attnrl). Reinstalls only when a pin changes.
TRAINERS_VENV := .venv-trainers
TRAINERS_PY := $(TRAINERS_VENV)/bin/python

$(TRAINERS_VENV)/.installed: requirements/trainers.txt requirements/trainers-agentic.txt requirements/trainers-nodeps.txt pyproject.toml
	@test -x $(TRAINERS_PY) || $(PYTHON) -m venv $(TRAINERS_VENV)
	$(TRAINERS_PY) -m pip install --quiet -r requirements/trainers.txt -r requirements/trainers-agentic.txt
	$(TRAINERS_PY) -m pip install --quiet --no-deps -r requirements/trainers-nodeps.txt
	$(TRAINERS_PY) -m pip install --quiet --no-deps --editable .
	@touch $@

test-trainers: $(TRAINERS_VENV)/.installed
	$(TRAINERS_PY) -m pytest -c tests/trainers/pytest.ini tests/trainers

check: env
	$(RUN) ruff check src tests benchmarks
	$(RUN) ruff format --check src tests benchmarks
	$(RUN) mypy

# verifiers v1 (prime-rl's tasksets) is verifiers 0.4, which cannot share the main lock with
# the v0 adapter's verifiers<0.4: it gets its own venv from a pinned requirements file.
V1_VENV := .venv-verifiers-v1
V1_PY := $(V1_VENV)/bin/python

$(V1_VENV)/.installed: requirements/verifiers-v1.txt pyproject.toml
	rm -rf $(V1_VENV)
	$(PYTHON) -m venv $(V1_VENV)
	$(V1_PY) -m pip install -q -r requirements/verifiers-v1.txt
	$(V1_PY) -m pip install -q --no-deps -e .
	touch $@

test-verifiers-v1: sandbox-deps $(V1_VENV)/.installed
	$(V1_PY) -m pytest tests/verifiers_v1

bench: env sandbox-deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf .venv .venv-trainers .venv-verifiers-v1 .tools runs .pytest_cache .mypy_cache .ruff_cache
