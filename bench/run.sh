#!/usr/bin/env bash
# Read-engine benchmark: the gateway (release build) against the same queries written by hand
# and run through pgbench, in the same run, so the ratio is meaningful on a noisy machine.
#
#   bench/run.sh [scale] [duration-seconds]      (defaults: 1 and 8)
#
# Needs: PostgreSQL reachable as BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# wrk and pgbench on PATH. It (re)creates the database `gateway_bench`, seeds it, starts the gateway on
# 127.0.0.1:8765, and prints requests/s and latency for each query at several concurrencies.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=${1:-1}
duration=${2:-8}
concurrencies=${BENCH_CONCURRENCIES:-"1 8 32"}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database_url=${admin%/*}/gateway_bench
port=8765
work=$(mktemp -d)
trap 'kill "${gateway_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

for tool in wrk pgbench psql; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install wrk postgresql-client)" >&2; exit 1; }
done

echo "== building the gateway (release)"
cargo build --release --quiet --bin gateway
gateway=target/release/gateway

echo "== database gateway_bench at scale $scale"
psql "$admin" -qc "DROP DATABASE IF EXISTS gateway_bench WITH (FORCE)" -c "CREATE DATABASE gateway_bench"
DATABASE_URL=$database_url $gateway migrate up >/dev/null
DATABASE_URL=$database_url $gateway seed --scale "$scale"
psql "$database_url" -qc "VACUUM ANALYZE"

echo "== starting the gateway on :$port"
DATABASE_URL=$database_url GATEWAY_LOG=warn GATEWAY_POOL_MAX_CONNECTIONS=16 \
  $gateway serve --listen "127.0.0.1:$port" &
gateway_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done

graphql() { curl -sf "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d "$1"; }
json_query() { python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1"; }

# The queries: GraphQL, and the hand-written SQL a developer would write for the same answer.
q1='{ tasks(first: 100) { nodes { id title status priority dueOn } } }'
q1_sql='SELECT id, title, status, priority, due_on FROM tasks ORDER BY id LIMIT 100;'
q2='{ organizations(first: 5) { nodes { name projects(first: 5) { nodes { name tasks(first: 5) { nodes { title status } } } } } } }'
q2_sql='SELECT o.name, p.name, t.title, t.status FROM (SELECT * FROM organizations ORDER BY id LIMIT 5) o
  CROSS JOIN LATERAL (SELECT * FROM projects WHERE organization_id = o.id ORDER BY id LIMIT 5) p
  CROSS JOIN LATERAL (SELECT * FROM tasks WHERE project_id = p.id ORDER BY id LIMIT 5) t;'
q3_first='{ tasks(first: 20, filter: {status: {eq: TODO}, priority: {gte: 3}}, orderBy: [{createdAt: ASC}]) { pageInfo { endCursor } } }'
cursor=$(graphql "$(json_query "$q3_first")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["tasks"]["pageInfo"]["endCursor"])')
q3="{ tasks(first: 20, after: \"$cursor\", filter: {status: {eq: TODO}, priority: {gte: 3}}, orderBy: [{createdAt: ASC}]) { nodes { id title createdAt } pageInfo { hasNextPage endCursor } } }"
q3_last=$(psql "$database_url" -Atc "SELECT created_at, id FROM tasks WHERE status = 'todo' AND priority >= 3 ORDER BY created_at, id LIMIT 1 OFFSET 19")
q3_sql="SELECT id, title, created_at FROM tasks WHERE status = 'todo' AND priority >= 3
  AND (created_at, id) > ('${q3_last%|*}', ${q3_last#*|}) ORDER BY created_at, id LIMIT 21;"
tasks=$(psql "$database_url" -Atc "SELECT count(*) FROM tasks")
q4_lua="local id = math.random(1, $tasks)
  wrk.body = '{\"query\":\"{ task(id: ' .. id .. ') { id title status priority project { name } } }\"}'"
q4_sql="\\set id random(1, $tasks)
SELECT t.id, t.title, t.status, t.priority, p.name FROM tasks t JOIN projects p ON p.id = t.project_id WHERE t.id = :id;"
q5='{ tasksAggregate(filter: {priority: {gte: 2}}) { groupBy(columns: [STATUS]) { key { status } count } } }'
q5_sql='SELECT status, count(*) FROM tasks WHERE priority >= 2 GROUP BY status ORDER BY status;'

write_lua() { # name, static body (or empty), per-request Lua
  local file="$work/$1.lua"
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    if [ -n "$2" ]; then printf 'wrk.body = %s\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$2")"; fi
    if [ -n "${3:-}" ]; then printf 'request = function()\n%s\nreturn wrk.format()\nend\n' "$3"; fi
  } > "$file"
  echo "$file"
}

printf '\n%-4s %5s %12s %9s %9s %12s %9s %7s\n' query conc "gateway r/s" "p50 ms" "p99 ms" "SQL tps" "SQL ms" ratio
run() { # name, lua file, sql text
  local name=$1 lua=$2 sql=$3
  printf '%s\n' "$sql" > "$work/$name.sql"
  # Sanity: the GraphQL answer has no errors.
  if [ "$name" != Q4 ]; then
    if graphql "$(python3 -c 'import sys; print(open(sys.argv[1]).read())' "$work/$name.body")" | grep -q '"errors"'; then
      echo "$name returned errors" >&2; exit 1
    fi
  fi
  for c in $concurrencies; do
    threads=$(( c < 2 ? 1 : 2 ))
    out=$(wrk -t"$threads" -c"$c" -d"${duration}s" --latency -s "$lua" "http://127.0.0.1:$port/graphql")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {print $4}' <<<"$out")
    [ -z "$errors" ] || { echo "$name: $errors non-2xx responses" >&2; exit 1; }
    pg=$(pgbench -n -M prepared -c "$c" -j "$threads" -T "$duration" -f "$work/$name.sql" "$database_url" 2>/dev/null)
    tps=$(awk '/^tps/ {print $3}' <<<"$pg")
    latency=$(awk '/latency average/ {print $4}' <<<"$pg")
    ratio=$(python3 -c "print(f'{float(\"$rps\") / float(\"$tps\"):.2f}')")
    printf '%-4s %5s %12s %9s %9s %12.0f %9s %7s\n' "$name" "$c" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$tps" "$latency" "$ratio"
  done
}
to_ms() { python3 -c "
import re,sys; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)', v)
print(v if not m else f'{float(m[1]) * {\"us\": 0.001, \"ms\": 1, \"s\": 1000}[m[2]]:.2f}')" "$1"; }

for name in Q1 Q2 Q3 Q5; do
  var=$(tr 'Q' 'q' <<<"$name"); query=${!var}; sql_var="${var}_sql"
  json_query "$query" > "$work/$name.body"
  run "$name" "$(write_lua "$name" "$(cat "$work/$name.body")")" "${!sql_var}"
done
run Q4 "$(write_lua Q4 "" "$q4_lua")" "$q4_sql"

echo
echo "ratio = gateway requests/s ÷ pgbench transactions/s for the same answer (both on this machine, same run)."
echo "Every GraphQL root field above is one SQL statement (see tests/api/statement_count.rs)."
