#!/usr/bin/env bash
# The long crash run (issue 15 §2; docs/operations.md): the real server process on its embedded PostgreSQL under an
# agent storm, catalog imports and staging, killed with SIGKILL at random moments and started again.
#   scripts/crash.sh [kills (default 20)] [agents (default 40)]
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export PATCH_CRASH_KILLS="${1:-20}" PATCH_CRASH_AGENTS="${2:-40}"
echo "Crash run: $PATCH_CRASH_KILLS kills, $PATCH_CRASH_AGENTS agents"
start=$(date +%s)
dotnet test --project tests/Patch.Api.Tests --filter-class "*when_the_server_is_killed_at_random_moments"
code=$?
echo "Crash run: $PATCH_CRASH_KILLS kills, $PATCH_CRASH_AGENTS agents, $(( $(date +%s) - start )) s, exit $code"
exit $code
