#!/usr/bin/env bash
# The long fuzzing run (issue 15 §1; docs/fuzzing.md): every fuzz target of the test suite with 10,000 cases each (or
# the number given), on the same throwaway PostgreSQL the suite starts. Prints each target's figures and appends them
# to the file named by PATCH_FUZZ_REPORT (default: fuzz-report.md in the working directory).
#   scripts/fuzz.sh [cases] [seed]
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export PATCH_FUZZ_CASES="${1:-10000}"
export PATCH_FUZZ_SEED="${2:-$(date +%s)}"
export PATCH_FUZZ_REPORT="${PATCH_FUZZ_REPORT:-$PWD/fuzz-report.md}"
echo "Fuzzing: $PATCH_FUZZ_CASES cases per target, seed $PATCH_FUZZ_SEED, figures in $PATCH_FUZZ_REPORT"
{
  echo
  echo "### $(date -u +%Y-%m-%d) — $PATCH_FUZZ_CASES cases per target, PATCH_FUZZ_SEED=$PATCH_FUZZ_SEED, $(nproc) cores"
  echo
  echo "| target | cases | accepted | refused | time | most frequent refusals |"
  echo "|---|---:|---:|---:|---:|---|"
} >> "$PATCH_FUZZ_REPORT"
dotnet test --project tests/Patch.Api.Tests --filter-namespace "Patch.Api.Tests.Fuzzing"
code=$?
cat "$PATCH_FUZZ_REPORT"
exit $code
