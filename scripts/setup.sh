#!/usr/bin/env bash
# Installs what is missing on a fresh Debian 12 machine, starts PostgreSQL, NATS (JetStream) and Garage
# (S3) when they are not running, and creates the database. Idempotent: safe to run again.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  pkg-config build-essential curl ca-certificates unzip python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-plugins-base-apps gstreamer1.0-tools gstreamer1.0-rtsp
  ffmpeg postgresql postgresql-client nats-server glib-networking openssl
  chromium
)
# Node.js and npm (for the browser tests' hls.js, and the web console) from Debian where missing.
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3 4 5; do
    if $SUDO apt-get update -q -o Acquire::Retries=3 >/dev/null \
      && $SUDO apt-get install -y -q -o Acquire::Retries=3 --no-install-recommends "${missing[@]}" >/dev/null; then
      break
    fi
    if [ "$attempt" -eq 5 ]; then log "apt-get failed 5 times; giving up"; exit 1; fi
    log "apt-get failed (attempt $attempt); retrying in $((attempt * 5)) s"
    $SUDO dpkg --configure -a || true
    sleep $((attempt * 5))
  done
else
  log "all Debian packages present"
fi

# Playwright for Python drives Debian's Chromium in the live-view test (it downloads no browser).
if ! python3 -c "import playwright" 2>/dev/null; then
  log "installing playwright from PyPI for the browser tests"
  python3 -m pip install -q --disable-pip-version-check "playwright==1.65.2"
fi

# hls.js for the LL-HLS browser test and axe-core for the console's, from the npm registry as
# package-lock.json pins them.
BROWSER_TESTS="$(dirname "$0")/../nodes/tests/browser"
if [ ! -f "$BROWSER_TESTS/node_modules/hls.js/dist/hls.min.js" ] ||
   [ ! -f "$BROWSER_TESTS/node_modules/axe-core/axe.min.js" ]; then
  log "installing the browser tests' npm packages"
  (cd "$BROWSER_TESTS" && npm ci --no-audit --no-fund --silent)
fi

# The web console (web/): its packages as package-lock.json pins them, then the build the node
# embeds (web/dist), redone when a source is newer than it.
WEB="$(dirname "$0")/../web"
if [ ! -d "$WEB/node_modules/vite" ]; then
  log "installing the web console's npm packages"
  (cd "$WEB" && npm ci --no-audit --no-fund --silent)
fi
if [ ! -f "$WEB/dist/index.html" ] ||
   [ -n "$(find "$WEB/src" "$WEB/index.html" "$WEB/public" -newer "$WEB/dist/index.html" -print -quit)" ]; then
  log "building the web console"
  (cd "$WEB" && npm run build --silent >/dev/null)
fi

# PostgreSQL: start the local cluster when nothing listens on 5432.
PGHOST_ADDR=${VMS_PG_HOST:-127.0.0.1}
PGPORT_NUM=${VMS_PG_PORT:-5432}
if ! pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM"; then
  log "starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO service postgresql start
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" && break; sleep 1; done
fi
pg_isready -h "$PGHOST_ADDR" -p "$PGPORT_NUM" >/dev/null || { log "PostgreSQL did not start"; exit 1; }

# NATS with JetStream: start when nothing listens on 4222.
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  log "starting nats-server with JetStream"
  $SUDO mkdir -p /var/lib/nats-server
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 20); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.5; done
fi

# Database for the node and a separate one for tests.
psql_admin() { psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -tAc "$1" 2>/dev/null \
  || $SUDO -u postgres psql -p "$PGPORT_NUM" -d postgres -tAc "$1"; }
for db in vms vms_test; do
  if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='$db'")" != "1" ]; then
    log "creating database $db"
    psql_admin "CREATE DATABASE $db"
  fi
done
"$(dirname "$0")/fetch-onnxruntime.sh"

# Garage, the S3-compatible object store of the object-storage tier: built from crates.io the first
# time (about 16 minutes on 2 cores), then its shared single-node instance started when nothing
# listens on 3900 (credentials in $GARAGE_DIR/access_key_id and secret_access_key).
GARAGE_DIR=${VMS_GARAGE_DIR:-/var/lib/vms-garage}
if ! command -v garage >/dev/null && [ ! -x "$HOME/.cargo/bin/garage" ]; then
  command -v cargo >/dev/null || { log "cargo (Rust 1.95+) is required to build garage: https://rustup.rs"; exit 1; }
  log "building garage 2.5.0 from crates.io (the first time takes about 16 minutes)"
  cargo install garage --version 2.5.0 --locked --quiet
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/3900) 2>/dev/null; then
  log "starting garage (S3 on 127.0.0.1:3900, data in $GARAGE_DIR)"
  $SUDO mkdir -p "$GARAGE_DIR"
  $SUDO chown "$(id -u):$(id -g)" "$GARAGE_DIR"
  "$(dirname "$0")/garage.sh" start "$GARAGE_DIR" 3900
fi
log "ready: PostgreSQL on $PGHOST_ADDR:$PGPORT_NUM, NATS on 127.0.0.1:4222, S3 (garage) on 127.0.0.1:3900"
