#!/usr/bin/env bash
# Fuzzes a live node's API from its OpenAPI document with schemathesis (from PyPI), against real
# PostgreSQL: fails on any 5xx, any response that breaks the documented schema or content type, and any
# status code the document does not declare, and on fewer than 1000 requests in all. It authenticates as
# a platform admin with an API key (so every route is reached past the guard), then as a tenant admin,
# then as an anonymous caller, who must get no 2xx outside the public routes (read from the node's
# access log); it raises the rate limits for the run. The live event stream (SSE, open until the
# client leaves) is left out; the isolation and notification tests cover it.
# Usage: scripts/fuzz-api.sh [examples per operation, default 150]
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
VMS_ADMIN_PASSWORD=fuzz-admin-password VMS_API__RATE_LIMIT_PER_SECOND=100000 VMS_API__RATE_LIMIT_BURST=100000 \
  VMS_API__IP_RATE_LIMIT_PER_SECOND=100000 VMS_API__IP_RATE_LIMIT_BURST=100000 \
  VMS_LOG=warn,vms_api::access=info VMS_NODE_ID=fuzz VMS_DATA_DIR="$data" VMS_API__LISTEN="127.0.0.1:$api_port" \
  VMS_POSTGRES__URL="${pg%/*}/$db" target/debug/vms node 2>"$data/node.log" & node_pid=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null && break; sleep 1; done
api="http://127.0.0.1:$api_port/api/v1"
token=$(curl -sf "$api/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"admin@vms.local","password":"fuzz-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
key=$(curl -sf "$api/api-keys" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"fuzz"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# WHEP offers are application/sdp, which schemathesis sends only through a serializer of ours.
export SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz_hooks.py"
fuzz() { # fuzz LABEL EXAMPLES CHECKS [schemathesis args...]
  local label=$1 n=$2 c=$3; shift 3
  echo "fuzz: as $label"
  python3 -m schemathesis.cli run "$api/openapi.json" --url "http://127.0.0.1:$api_port" \
    -n "$n" --seed 1 --exclude-operation-id stream_events --checks "$c" "$@" | tee "$data/fuzz-$label.out"
}
# Authenticated passes leave out revoke_api_key: schemathesis reuses ids it saw in answers and would
# revoke its own key (keys cannot make keys, so it has no other). The anonymous pass still sends it;
# the isolation and credential tests cover revocation.
fuzz platform-admin "$examples" "$checks" -H "Authorization: Bearer $key" --exclude-operation-id revoke_api_key
requests=$(grep -oE '[0-9]+ generated' "$data/fuzz-platform-admin.out" | head -1 | grep -oE '[0-9]+' || echo 0)
echo "fuzz: $requests generated test cases as a platform admin"
if [ "$requests" -lt 1000 ]; then echo "fewer than 1000 generated requests ($requests)" >&2; exit 1; fi

# A tenant admin of a tenant of its own, with a key made from its password login.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
tenant=$(curl -sf "$api/tenants" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"name":"fuzz tenant"}' | json '["id"]')
curl -sf "$api/users" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"email\":\"ta@fuzz.test\",\"password\":\"fuzz tenant admin password\",\"role\":\"tenant_admin\",\"tenant_id\":\"$tenant\"}" >/dev/null
ta_token=$(curl -sf "$api/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ta@fuzz.test","password":"fuzz tenant admin password"}' | json '["access_token"]')
ta_key=$(curl -sf "$api/api-keys" -H "Authorization: Bearer $ta_token" -H 'Content-Type: application/json' \
  -d '{"name":"fuzz"}' | json '["key"]')
fuzz tenant-admin "$(( (examples + 3) / 4 ))" "$checks" -H "Authorization: Bearer $ta_key" \
  --exclude-operation-id revoke_api_key

# Anonymous: no server errors, and no 2xx anywhere but the public routes.
log_from=$(wc -l < "$data/node.log")
echo "fuzz: as anonymous"
# schemathesis would otherwise sign up and log in by itself (and stumble over this API's login).
printf '[auth]\nauto-signup = false\n' > "$data/anonymous.toml"
anon_config="--config-file $data/anonymous.toml"
python3 -m schemathesis.cli $anon_config run "$api/openapi.json" --url "http://127.0.0.1:$api_port" \
  -n "$(( (examples + 3) / 4 ))" --seed 1 --exclude-operation-id stream_events \
  --checks not_a_server_error | tee "$data/fuzz-anonymous.out"
leaks=$(tail -n +"$((log_from + 1))" "$data/node.log" | sed 's/\x1b\[[0-9;]*m//g' | grep 'vms_api::access' \
  | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^HTTP\//) { split($(i-1), p, "?"); print $(i+1), p[1] } }' \
  | awk '$1 ~ /^2/ && $2 !~ /^\/(healthz|readyz|api\/v1\/openapi\.json|api\/v1\/auth\/(login|refresh))$/')
anon=$(tail -n +"$((log_from + 1))" "$data/node.log" | grep -c 'vms_api::access' || true)
echo "fuzz: $anon anonymous requests reached the node"
if [ "$anon" -lt 100 ]; then echo "too few anonymous requests logged ($anon)" >&2; exit 1; fi
if [ -n "$leaks" ]; then echo "anonymous requests got 2xx outside the public routes:" >&2; echo "$leaks" | head -20 >&2; exit 1; fi
if grep -qi panicked "$data/node.log"; then echo "the node panicked during fuzzing" >&2; exit 1; fi
