#!/usr/bin/env bash
# The whole suite on both store backends, as `make test` and CI run it.
#   pass 1: every test, with writable stores as GeoJSON folders (both_stores tests also on PostGIS);
#   pass 2: every test that uses a store again, with GRIDMAP_TEST_STORE=postgresql: the writable stores and
#           the read-only city of the app and ds fixtures are PostGIS databases then (--store-tests-only:
#           the rest never open a store, so a second run would repeat them).
# Both passes spread the tests over the machine's cores (pytest-xdist, one file per worker at a time).
# Extra arguments go to both passes; pytest's exit code 5 (nothing collected) counts as success.
# usage: scripts/run-tests.sh [pytest options]
set -uo pipefail
PYTEST="${PYTEST:-.venv/bin/pytest}"
JOBS="${GRIDMAP_TEST_JOBS:-auto}"
parallel=(-n "$JOBS" --dist loadfile)
[ "$JOBS" = 0 ] && parallel=()

run() {  # run <label> <pytest args...>: print a heading, run, map exit code 5 to 0
  local label=$1; shift
  echo "== $label"
  "$PYTEST" "$@"; local rc=$?
  if [ $rc -eq 5 ]; then echo "pytest collected no tests ($label)"; rc=0; fi
  return $rc
}

export GRIDMAP_TEST_REQUIRE_PG="${GRIDMAP_TEST_REQUIRE_PG:-1}"
run "pass 1 of 2: the whole suite (GeoJSON stores; both_stores tests on both)" "${parallel[@]}" "$@"
rc1=$?
GRIDMAP_TEST_STORE=postgresql run "pass 2 of 2: every store-using test on PostGIS" \
  "${parallel[@]}" --store-tests-only "$@"
rc2=$?
[ $rc1 -ne 0 ] && exit $rc1
exit $rc2
