#!/usr/bin/env bash
# llama.cpp's own `llama-server` for the real-model tier: it reports its runtime context length
# (GET /props), which llama-cpp-python's server does not, so the up-front context check is tested
# against a real server. Built from the llama.cpp sources vendored in the pinned llama-cpp-python
# sdist (same llama.cpp as the wheel), GGML_NATIVE=OFF and static, once per version, and cached
# outside the clone like server_env.sh caches the wheel. Prints the binary's path.
# Usage: tools/real_model/llama_server.sh            build if needed, print the path
#        tools/real_model/llama_server.sh --cached   print the path (exit 0) or why not (exit 1)
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
PY=${PYTHON:-python3}
CACHE=${ATTNRL_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/attnrl/bin}/llama-server-$VERSION-nonative
BIN=$CACHE/llama-server
say() { echo "make: $*" >&2; }

if [ "${1:-}" = "--cached" ]; then
  test -x "$BIN" && echo "$BIN" && exit 0
  echo "no cached llama-server (llama-cpp-python $VERSION's llama.cpp) in $CACHE" && exit 1
fi
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

say "building llama-server (the llama.cpp of llama-cpp-python $VERSION's sdist) into $CACHE:" \
  "once per version; the build log is shown only if it fails"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download --quiet --no-binary :all: --no-deps -d "$tmp" "llama-cpp-python==$VERSION" >&2
tar -xzf "$tmp"/llama_cpp_python-"$VERSION".tar.gz -C "$tmp"
src=$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp
nice -n 10 cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF >"$tmp/cmake.log" 2>&1 || { tail -n 30 "$tmp/cmake.log" >&2; exit 1; }
nice -n 10 cmake --build "$tmp/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  >"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; exit 1; }
mkdir -p "$CACHE"
cp "$tmp/build/bin/llama-server" "$BIN.partial"
mv "$BIN.partial" "$BIN"
echo "$BIN"
