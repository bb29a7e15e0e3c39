#!/usr/bin/env bash
# Runs a single-node Garage: the S3-compatible object store the node tiers segments to (AGPL-3.0; a
# separate server we only talk S3 to). Used by scripts/setup.sh for the machine's shared instance
# and by tests that need a private one.
#
#   scripts/garage.sh start DIR S3_PORT   start it (the first time: config, layout, bucket, key)
#   scripts/garage.sh stop DIR            stop it (its data stays; `start` brings it back)
#
# The first start writes DIR/access_key_id and DIR/secret_access_key (mode 600): the key of the
# bucket `vms`. A node points at it with storage.s3_endpoint = http://127.0.0.1:S3_PORT,
# storage.s3_access_key_id = the first file's content and storage.s3_secret_access_key_file = the
# second file.
set -euo pipefail

GARAGE=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[ -x "$GARAGE" ] || { echo "garage is not installed (scripts/setup.sh installs it)" >&2; exit 1; }

cmd=${1:?usage: garage.sh start DIR S3_PORT | stop DIR}
dir=${2:?usage: garage.sh start DIR S3_PORT | stop DIR}
g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }
running() { [ -f "$dir/garage.pid" ] && kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null; }

case "$cmd" in
start)
  port=${3:?usage: garage.sh start DIR S3_PORT}
  mkdir -p "$dir/meta" "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/garage.toml" ]; then
    umask 077
    cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((port + 1))"
rpc_public_addr = "127.0.0.1:$((port + 1))"
rpc_secret = "$(openssl rand -hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage.localhost"
TOML
  fi
  if ! running; then
    setsid "$GARAGE" -c "$dir/garage.toml" server >>"$dir/garage.log" 2>&1 < /dev/null &
    echo $! > "$dir/garage.pid"
  fi
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "garage did not start; see $dir/garage.log" >&2; exit 1; }
  if [ ! -f "$dir/secret_access_key" ]; then
    node=$(g node id -q 2>/dev/null | cut -d@ -f1)
    g layout assign -z dc1 -c 10GB "$node" >/dev/null
    g layout apply --version 1 >/dev/null
    g bucket create vms >/dev/null
    key_id="GK$(openssl rand -hex 12)"
    secret=$(openssl rand -hex 32)
    g key import --yes -n vms "$key_id" "$secret" >/dev/null
    g bucket allow --read --write --owner --key "$key_id" vms >/dev/null
    (umask 077; printf '%s\n' "$key_id" > "$dir/access_key_id"; printf '%s\n' "$secret" > "$dir/secret_access_key")
  fi
  ;;
stop)
  if running; then
    pid=$(cat "$dir/garage.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/garage.pid"
  ;;
*)
  echo "usage: garage.sh start DIR S3_PORT | stop DIR" >&2; exit 2 ;;
esac
