#!/usr/bin/env bash
# The whole test suite, on a fresh machine of this kind too (the README's second command; .ci/run calls it):
#   1. installs what the suite needs and the machine lacks (Debian's chromium for the browser tests, as root),
#   2. runs every test (`dotnet test`: unit, whole-app on a throwaway PostgreSQL it starts itself, browser),
#   3. lints the committed OpenAPI document (docs/openapi.json) with Redocly's recommended rules: any error fails,
# then prints the one plain line CI reads: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The console's browser tests drive Debian's Chromium (never a browser a test tool downloads).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; } \
      || { echo "Installing chromium failed: run 'apt-get update && apt-get install -y chromium' as root, then this script again."; exit 1; }
  else
    echo "The browser tests need Debian's Chromium at /usr/bin/chromium. Run as root: apt-get update && apt-get install -y chromium"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

# Tests read the real Microsoft, CISA and Windows files of ../shared/data (or PATCH_SHARED_DATA): without them a third
# of the suite would fail one by one, so stop here and say where they go.
shared="${PATCH_SHARED_DATA:-../shared/data}"
# A clone of a local checkout (git clone . "$d"): the folder beside the checkout it was cloned from.
origin=$(git remote get-url origin 2>/dev/null || true)
if [ -z "${PATCH_SHARED_DATA:-}" ] && [ ! -d "$shared" ] && [ -n "$origin" ] && [ -d "$origin/../shared/data" ]; then
  shared=$(realpath "$origin/../shared/data")
fi
export PATCH_SHARED_DATA="$(realpath -m "$shared")"
if [ ! -d "$shared" ]; then
  echo "The tests need the shared data folder (real Microsoft/CISA documents and Windows captures) at $(realpath -m "$shared")."
  echo "Clone this repository beside ../shared, or run: PATCH_SHARED_DATA=/path/to/shared/data bash scripts/test.sh"
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
dotnet test 2>&1 | tee "$log"
code=${PIPESTATUS[0]}

num() { grep -E "^\s+$1: [0-9]+" "$log" | tail -n 1 | grep -oE '[0-9]+' || true; }
total=$(num total); failed=$(num failed); passed=$(num succeeded)

echo "Linting docs/openapi.json (Redocly recommended rules)"
if ! npx --yes @redocly/cli@2.77.0 lint docs/openapi.json --format=stylish; then
  echo "The OpenAPI document has lint errors."
  code=1; failed=$(( ${failed:-0} + 1 ))
fi

# The failed tests again, at the end where a CI log's tail shows them (name, message and the first lines of the trace).
if [ "${failed:-0}" != "0" ]; then
  echo "Failed tests:"
  grep -E -A 12 "^\s*failed [A-Za-z_]" "$log" | grep -v -E "^\s+(info|dbug|trce): " | head -n 150
fi

if [ -z "$total" ]; then
  echo "The test run produced no summary (build failure?)."
  echo "0 passed, 1 failed"
  exit 1
fi
echo "${passed:-0} passed, ${failed:-0} failed"
[ "$code" -eq 0 ] && [ "${failed:-0}" -eq 0 ] || exit 1
exit 0
