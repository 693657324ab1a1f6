#!/usr/bin/env bash
# The sample dashboard (bench/dashboard/dashboard.graphql: tasks per status per month for each
# project of an organization, top 5 projects by open tasks, average estimate by assignee, projects
# with more than 3 overdue tasks) as one GraphQL request against the same JSON written by hand in
# SQL (bench/dashboard/dashboard.sql), loaded one after the other in the same run:
#
#   bench/dashboard.sh [scale] [seconds] [connections]     (defaults: 1, 8, 16)
#
# Needs PostgreSQL as BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), wrk,
# pgbench and psql. It (re)creates the database `gateway_dashboard`, checks that both answers are the
# same JSON, then prints requests/s of each and their ratio (target: gateway/SQL ≥ 0.7).
set -euo pipefail
cd "$(dirname "$0")/.."

scale=${1:-1}
duration=${2:-8}
connections=${3:-16}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database_url=${admin%/*}/gateway_dashboard
port=8766
organization=1
today=2026-06-01
work=$(mktemp -d)
trap 'kill "${gateway_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

for tool in wrk pgbench psql python3; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install wrk postgresql-client)" >&2; exit 1; }
done

cargo build --release --quiet --bin gateway
gateway=target/release/gateway

psql "$admin" -qc "DROP DATABASE IF EXISTS gateway_dashboard WITH (FORCE)" -c "CREATE DATABASE gateway_dashboard"
DATABASE_URL=$database_url $gateway migrate up >/dev/null
DATABASE_URL=$database_url $gateway seed --scale "$scale" >/dev/null
psql "$database_url" -qc "VACUUM ANALYZE"

DATABASE_URL=$database_url GATEWAY_LOG=warn GATEWAY_POOL_MAX_CONNECTIONS=$connections \
  $gateway serve --listen "127.0.0.1:$port" &
gateway_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

python3 - "$organization" "$today" > "$work/body.json" <<'PY'
import json, sys
query = open("bench/dashboard/dashboard.graphql").read()
print(json.dumps({"query": query, "variables": {"org": sys.argv[1], "today": sys.argv[2]}}))
PY
curl -sf "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d @"$work/body.json" > "$work/gateway.json"
psql "$database_url" -Atq -v org="$organization" -v today="$today" -f bench/dashboard/dashboard.sql > "$work/sql.json"
python3 - "$work/gateway.json" "$work/sql.json" <<'PY'
import json, sys
gateway = json.load(open(sys.argv[1]))
if "errors" in gateway:
    sys.exit(f"the gateway answered errors: {gateway['errors']}")
sql = json.load(open(sys.argv[2]))
# Decimal averages: the gateway answers a double, as the SQL does; compare to 9 digits.
def canonical(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value
if canonical(gateway["data"]) != canonical(sql):
    sys.exit("the answers differ:\n" + json.dumps(gateway["data"], sort_keys=True) + "\n" + json.dumps(sql, sort_keys=True))
print("same answer: yes")
PY

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local file = io.open("$work/body.json")
wrk.body = file:read("*a")
file:close()
LUA
# pgbench runs the statement as one script; its variables are set per transaction.
{ echo "\\set org $organization"; sed "s/:'today'/'$today'/" bench/dashboard/dashboard.sql; } > "$work/pgbench.sql"

gateway_rps=$(wrk -t2 -c"$connections" -d"${duration}s" -s "$work/post.lua" "http://127.0.0.1:$port/graphql" \
  | awk '/Requests\/sec/ {print $2}')
sql_tps=$(pgbench -n -M prepared -c "$connections" -j2 -T "$duration" -f "$work/pgbench.sql" "$database_url" 2>/dev/null \
  | awk '/^tps/ {print $3; exit}')
python3 - "$gateway_rps" "$sql_tps" "$scale" "$connections" "$duration" <<'PY'
import sys
gateway, sql, scale, connections, duration = float(sys.argv[1]), float(sys.argv[2]), *sys.argv[3:]
print(f"# dashboard scale={scale} c={connections} d={duration}s")
print(f"gateway {gateway:9.1f} r/s   sql {sql:9.1f} tps   gateway/sql {gateway / sql:.2f}")
PY
