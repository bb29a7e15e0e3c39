#!/usr/bin/env bash
# What reading a tenant's stored bytes costs: summing its segments (before issue 18's tenant
# actors) against the running total the triggers on `segments` keep (`tenant_storage`), on a
# scratch database with one tenant of 200 cameras and N segments (default 1 000 000). Prints both
# (best of 5) and the ratio. Needs the shared PostgreSQL (127.0.0.1:5432, trust).
set -euo pipefail
segments="${1:-1000000}"
db="vms_bench_storage_$$"
psql_() { psql -X -q -h 127.0.0.1 -U postgres "$@"; }
cd "$(dirname "$0")/.."
psql_ -c "CREATE DATABASE $db" >/dev/null
trap 'psql_ -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
for f in actors/store/migrations/*.sql; do psql_ -d "$db" -v ON_ERROR_STOP=1 -f "$f" >/dev/null; done
echo "inserting $segments segments of one tenant ..."
psql_ -d "$db" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO tenants (id, name, max_cameras, retention_days)
  VALUES ('00000000-0000-0000-0000-000000000001', 'big', 1000, 30);
INSERT INTO cameras (id, tenant_id, name, url)
  SELECT ('00000000-0000-0000-0001-' || lpad(to_hex(i), 12, '0'))::uuid,
         '00000000-0000-0000-0000-000000000001', 'c' || i, 'rtsp://x'
  FROM generate_series(1, 200) i;
INSERT INTO segments (camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node)
  SELECT ('00000000-0000-0000-0001-' || lpad(to_hex(1 + (i % 200)), 12, '0'))::uuid,
         '00000000-0000-0000-0000-000000000001', i,
         now() - make_interval(secs => ($segments - i) * 2.6),
         now() - make_interval(secs => ($segments - i) * 2.6 - 60), 1000000, '/x', 'a'
  FROM generate_series(1, $segments) i;
ANALYZE segments;
SQL
best() { # the best of 5 runs of a query, in ms
  for _ in 1 2 3 4 5; do
    psql_ -d "$db" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
  done | sort -g | head -1
}
sum=$(best "SELECT coalesce(sum(bytes), 0) FROM segments WHERE tenant_id = '00000000-0000-0000-0000-000000000001'")
total=$(best "SELECT bytes FROM tenant_storage WHERE tenant_id = '00000000-0000-0000-0000-000000000001'")
echo "segments: $segments"
echo "sum over the tenant's segments: $sum ms"
echo "running total (tenant_storage): $total ms"
awk -v a="$sum" -v b="$total" 'BEGIN { printf "ratio: %.0fx faster\n", a / b }'
# What the triggers cost a write: 2 000 one-row inserts, each its own statement, with the
# triggers and without.
inserts="DO \$\$ BEGIN FOR i IN 1..2000 LOOP
  INSERT INTO segments (camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node)
  VALUES ('00000000-0000-0000-0001-000000000001', '00000000-0000-0000-0000-000000000001',
          $segments + i + (random() * 1e9)::bigint, now(), now(), 1000, '/x', 'a');
END LOOP; END \$\$"
with=$(best "$inserts")
psql_ -d "$db" -c "ALTER TABLE segments DISABLE TRIGGER segments_storage_insert" >/dev/null
without=$(best "$inserts")
awk -v a="$with" -v b="$without" 'BEGIN {
  printf "one-row insert: %.1f us with the trigger, %.1f us without (+%.1f us)\n", a / 2, b / 2, (a - b) / 2 }'
