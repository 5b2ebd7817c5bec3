#!/usr/bin/env bash
# Installs llama-cpp-python into a venv, built for a portable CPU baseline and never for this machine.
#
# Why: llama.cpp's default build uses the build machine's native flags (-march=native), which on a
# recent Xeon turn on AMX tile and AVX-512 instructions; the wheel then dies with SIGILL on any CPU
# (or VM kernel) that lacks them, and pip's wheel cache hands that wheel to the next machine. We
# build once per (version, architecture, flags) into a cache of our own, keyed by all three, so a
# cached wheel is valid on every machine of its class: x86-64 with AVX2/FMA/F16C, or arm64 (NEON).
#
# Usage: scripts/install-llama.sh VENV_PYTHON   (from the repository root)
# GPU builds (CUDA, Metal): FINSANDBOX_LLAMA_CMAKE_ARGS adds flags, e.g. "-DGGML_CUDA=ON"; the CPU
# code stays portable and the flags are part of the cache key. See docs/deployment.md.
set -euo pipefail
PY="$1"
# The version pinned in pyproject.toml, so the two cannot disagree.
VERSION="$(sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)"
if [ -z "$VERSION" ]; then
  echo "pyproject.toml does not pin llama-cpp-python[server]==VERSION" >&2
  exit 1
fi
ARCH="$(uname -m)"
case "$ARCH" in
  x86_64|amd64)
    FLAGS="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=OFF -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" ;;
  aarch64|arm64)
    FLAGS="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ARM_ARCH=armv8-a" ;;
  *)
    echo "unsupported architecture $ARCH: build llama-cpp-python yourself (see docs/deployment.md)" >&2
    exit 1 ;;
esac
# No multimodal (mtmd/llava) library: finsandbox serves text models, and it is about a quarter of the build.
FLAGS="$FLAGS -DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF${FINSANDBOX_LLAMA_CMAKE_ARGS:+ $FINSANDBOX_LLAMA_CMAKE_ARGS}"
# "slim": the wheel is repacked without what finsandbox never loads (see below); part of the key so
# that an older, unslimmed wheel in the cache is not reused.
KEY="$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$VERSION $ARCH $FLAGS slim")"
CACHE="${FINSANDBOX_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/finsandbox/wheels}/llama-$VERSION-$ARCH-$KEY"

if ! ls "$CACHE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION for a portable $ARCH baseline (a few minutes, once per machine class)"
  started=$SECONDS
  tmp="$(mktemp -d)"
  # --no-cache-dir: pip's own cache keys wheels by version only, not by build flags.
  CMAKE_ARGS="$FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(getconf _NPROCESSORS_ONLN)" FORCE_CMAKE=1 \
    "$PY" -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$tmp" "llama-cpp-python==$VERSION"
  # The build also installs the C libraries and headers at the top of site-packages, and a zip
  # cannot hold symlinks, so each library comes three times (libX.so, libX.so.0, libX.so.0.N.M).
  # Only llama_cpp/ is used, and only libX.so (opened by name) and libX.so.0 (the soname the
  # libraries link against) are loaded: keeping just those saves about 45 MB per install.
  "$PY" -m wheel unpack -d "$tmp/unpacked" "$tmp"/llama_cpp_python-*.whl >/dev/null
  tree="$(echo "$tmp"/unpacked/llama_cpp_python-*)"
  find "$tree" -mindepth 1 -maxdepth 1 ! -name llama_cpp ! -name '*.dist-info' -exec rm -rf {} +
  find "$tree/llama_cpp/lib" -name 'lib*.so.*.*' -delete
  rm "$tmp"/llama_cpp_python-*.whl
  "$PY" -m wheel pack -d "$tmp" "$tree" >/dev/null
  mkdir -p "$CACHE"
  mv "$tmp"/llama_cpp_python-*.whl "$CACHE"/
  rm -rf "$tmp"
  echo "built llama-cpp-python in $((SECONDS - started)) s; cached in $CACHE"
fi
"$PY" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$CACHE"/llama_cpp_python-*.whl
# The wheel's own runtime needs and its OpenAI-compatible server (the model worker process).
"$PY" -m pip install --quiet "llama-cpp-python[server]==$VERSION"
