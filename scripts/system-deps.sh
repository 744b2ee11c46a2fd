#!/usr/bin/env bash
# Installs the Debian packages gridmap needs outside Python, when they are missing.
#   runtime: fonts-noto-cjk (Chinese text in PDF reports)
#   test:    chromium, chromium-driver (browser tests), poppler-utils (PDF checks),
#            postgresql + PostGIS (the tests start a throw-away cluster), wrk (load benchmarks)
# usage: scripts/system-deps.sh runtime|test
set -euo pipefail
want=(fonts-noto-cjk)
if [ "${1:-runtime}" = test ]; then
  want+=(chromium chromium-driver poppler-utils postgresql wrk)
  # PostGIS is packaged per server major (postgresql-15-postgis-3 on Debian 12): take the one the
  # distribution's postgresql package depends on.
  pgmajor=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
  [ -z "$pgmajor" ] && pgmajor=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$pgmajor" ] && want+=("postgresql-$pgmajor-postgis-3")
fi
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
