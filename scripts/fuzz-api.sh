#!/usr/bin/env bash
# Fuzzes a live node's API from its OpenAPI document with schemathesis (from PyPI), against real
# PostgreSQL: fails on any 5xx, any response that breaks the documented schema or content type, and any
# status code the document does not declare. Usage: scripts/fuzz-api.sh [examples per operation, default 150]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-150}
pg=${VMS_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
for attempt in 1 2 3; do
  python3 -m pip install -q --disable-pip-version-check "schemathesis==4.32.5" 2>/dev/null && break
  [ "$attempt" = 3 ] && { echo "cannot install schemathesis from PyPI" >&2; exit 1; }
  sleep $((attempt * 5))
done
cargo build --locked -q -p vms-node --bin vms
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
db="vms_fuzz_$$"; api_port=$(free_port); sim_port=$(free_port); data=$(mktemp -d)
psql "$pg" -qc "CREATE DATABASE $db"
cleanup() {
  kill "${node_pid:-}" "${sim_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$data"
}
trap cleanup EXIT
target/debug/vms sim --cameras 1 --port "$sim_port" >/dev/null </dev/null & sim_pid=$!
VMS_LOG=warn VMS_NODE_ID=fuzz VMS_DATA_DIR="$data" VMS_API__LISTEN="127.0.0.1:$api_port" \
  VMS_POSTGRES__URL="${pg%/*}/$db" target/debug/vms node 2>"$data/node.log" & node_pid=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null && break; sleep 1; done
python3 -m schemathesis.cli run "http://127.0.0.1:$api_port/api/v1/openapi.json" --url "http://127.0.0.1:$api_port" \
  -n "$examples" --seed 1 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
if grep -qi panicked "$data/node.log"; then echo "the node panicked during fuzzing" >&2; exit 1; fi
