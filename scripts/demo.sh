#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), builds, and runs the demo: simulated cameras recorded by
# one node, with the API on http://127.0.0.1:8080. Extra arguments go to `vms demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v cargo >/dev/null || { echo "cargo (Rust 1.95+) is required: https://rustup.rs" >&2; exit 1; }
echo "[demo] building (the first build takes several minutes) …" >&2
cargo build --locked -p vms-node --bin vms
target/debug/vms migrate
exec target/debug/vms demo "$@"
