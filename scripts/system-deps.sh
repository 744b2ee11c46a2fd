#!/usr/bin/env bash
# Installs the Debian packages gridmap needs outside Python, when they are missing.
#   runtime: fonts-noto-cjk (Chinese text in PDF reports)
#   test:    chromium, chromium-driver (browser tests), poppler-utils (PDF checks)
# usage: scripts/system-deps.sh runtime|test
set -euo pipefail
want=(fonts-noto-cjk)
[ "${1:-runtime}" = test ] && want+=(chromium chromium-driver poppler-utils)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "gridmap: please install these Debian packages as root: ${missing[*]}" >&2
    echo "         (apt-get update && apt-get install -y ${missing[*]})" >&2
    exit 0
  fi
else SUDO=""; fi
echo "gridmap: installing Debian packages: ${missing[*]}" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
