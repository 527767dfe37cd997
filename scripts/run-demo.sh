#!/usr/bin/env bash
# Runs Patch with the demo catalog on the embedded PostgreSQL (same as the README's first command).
set -euo pipefail
cd "$(dirname "$0")/.."
exec dotnet run --project src/Patch.Api -- --Patch:Demo=true "$@"
