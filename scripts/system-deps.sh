#!/usr/bin/env bash
# Installs the system packages the product needs on a fresh Debian machine, when run as root.
# A compiler toolchain builds llama-cpp-python from source (scripts/install-llama.sh caches the wheel).
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
# objdump: the test suite checks that the llama.cpp build holds no AMX or stray AVX-512 code.
command -v objdump >/dev/null 2>&1 || need+=(binutils)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# WeasyPrint renders the exit reports to PDF with Pango; DejaVu gives it a font to embed.
has_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
    has_pkg "$pkg" || need+=("$pkg")
  done
  # The web UI's browser tests drive Debian's headless Chromium with Playwright (no downloaded browsers).
  has_pkg chromium || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them, then run make again)" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
