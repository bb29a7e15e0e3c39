#!/usr/bin/env bash
# Runs every test of the workspace against real PostgreSQL, NATS, GStreamer and the camera simulator.
# Installs and starts what is missing first (scripts/setup.sh). Usage: scripts/test.sh [cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v cargo >/dev/null || { echo "cargo (Rust 1.95+) is required: https://rustup.rs" >&2; exit 1; }
# The web console's unit tests (Vitest) and its size budget; setup.sh has built it.
(cd web && npm test --silent && npm run budget --silent)
# Integration tests start their own node and simulator processes; running them one at a time keeps
# their timing assertions meaningful on a 2-core machine.
cargo test --workspace --locked "$@" -- --test-threads=1
