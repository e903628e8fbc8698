#!/usr/bin/env bash
# The real-model tier's server environment: llama-cpp-python[server] (pinned) in its own venv.
# The wheel is built once with GGML_NATIVE=OFF (a native build uses AMX on this CPU and crashes on
# the first completion) and cached outside the clone, keyed by version and Python tag, so a second
# clone (or CI) reuses it. Usage: tools/real_model/server_env.sh VENV_DIR
# `server_env.sh --cached` only says whether the wheel is cached (exit 0) or not (exit 1).
set -euo pipefail
VENV=${1:?usage: server_env.sh VENV_DIR | --cached}
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
PY=${PYTHON:-python3}
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
CACHE=${ATTNRL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attnrl/wheels}/llama-cpp-python-$VERSION-nonative-$PYTAG
say() { echo "make: $*" >&2; }

wheel() { ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n 1; }

if [ "$VENV" = "--cached" ]; then
  test -n "$(wheel)" && echo "$(wheel)" && exit 0
  echo "no cached llama-cpp-python $VERSION wheel in $CACHE" && exit 1
fi

test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
if [ -z "$(wheel)" ]; then
  say "building llama-cpp-python $VERSION (llama.cpp, C++) with GGML_NATIVE=OFF into $CACHE:" \
    "about 13 minutes on 2 idle cores, once per version (the wheel is about 23 MB)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    nice -n 10 "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$VERSION"
  mkdir -p "$CACHE"
  mv "$tmp"/llama_cpp_python-*.whl "$CACHE"/
else
  echo "llama-cpp-python $VERSION: reusing the cached wheel $(wheel)" >&2
fi
"$VENV/bin/python" -m pip install --quiet --only-binary llama-cpp-python --find-links "$CACHE" \
  "llama-cpp-python[server]==$VERSION"
