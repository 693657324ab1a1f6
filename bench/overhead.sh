#!/usr/bin/env bash
# Instructions the gateway spends per request, counted by callgrind (instructions, not seconds:
# the figure repeats on a loaded machine). For each query, the release binary runs under
# callgrind, serves 20 warm-up requests (the operation cache fills), the counters are zeroed,
# N more requests are served one after another on one keep-alive connection (one curl), and the
# whole process's instructions are divided by N — HTTP, routing, authentication, the operation
# cache, the driver, all of it, but not accepting connections.
#
#   bench/overhead.sh [requests] [binary]    (default 200 and target/release/gateway; needs
#                                             valgrind and curl, and a seeded database:
#                                             BENCH_DATABASE_URL, default the side-by-side's `sbs`)
#
# ROLE=member sends a member token (permissions on). Compare two builds by running it twice on
# the same database and reading the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${1:-200}
binary=${2:-target/release/gateway}
database_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sbs}
port=8767
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tid=$(psql "$database_url" -qAt -c "select id from tasks order by id offset (select count(*)/2 from tasks) limit 1")
declare -A queries=(
  [q1]='{"query":"query Q1 { tasks(first: 100, orderBy: [{id: ASC}]) { nodes { id title status priority createdAt } } }"}'
  [q2]='{"query":"query Q2 { organizations(first: 5, orderBy: [{id: ASC}]) { nodes { id name projects(first: 5, orderBy: [{id: ASC}]) { nodes { id name tasks(first: 10, orderBy: [{id: ASC}]) { nodes { id title status } } } } } } }"}'
  [q4]="{\"query\":\"query Q4 { task(id: $tid) { id title status priority dueOn estimateHours metadata createdAt } }\"}"
  # Q4 with its key as a variable, another value in every request (`@N@`: the request's number).
  [q4v]="{\"query\":\"query Q4V(\$id: ID!) { task(id: \$id) { id title status priority dueOn estimateHours metadata createdAt } }\",\"variables\":{\"id\":@N@}}"
)
env=(DATABASE_URL="$database_url" GATEWAY_LOG=warn GATEWAY_LISTEN="127.0.0.1:$port")
auth=()
if [ "${ROLE:-}" = member ]; then
  secret=overhead-secret-0123456789abcdef0123456789
  env+=(GATEWAY_JWT_SECRET="$secret" GATEWAY_POLICY_FILE="$PWD/policy.toml")
  org=$(psql "$database_url" -qAt -c "select organization_id from users where role='member' order by id limit 1")
  user=$(psql "$database_url" -qAt -c "select id from users where role='member' and organization_id=$org order by id limit 1")
  token=$(GATEWAY_JWT_SECRET=$secret "$binary" token --role member --sub "$user" --claim org_id="$org" --ttl 1h 2>/dev/null | tail -1)
  auth=(-H "authorization: Bearer $token")
fi
# `count` requests with `body`, one after another on one connection.
post() {
  local body=$1 count=$2 offset=${3:-0} config="$work/curl.conf"
  : >"$config"
  for index in $(seq 1 "$count"); do
    [ "$index" -gt 1 ] && echo next >>"$config"
    printf 'url = "http://127.0.0.1:%s/graphql"\nheader = "content-type: application/json"\n' "$port" >>"$config"
    for header in "${auth[@]:1}"; do printf 'header = "%s"\n' "$header" >>"$config"; done
    printf 'data = %s\noutput = /dev/null\nsilent\nfail\n' "$(printf '%s' "${body//@N@/$((tid + offset + index))}" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" >>"$config"
  done
  curl -K "$config"
}

printf '%-4s %14s  (%s, %d requests, role %s)\n' query instr/request "$binary" "$requests" "${ROLE:-none}"
for q in ${QUERIES:-q1 q2 q4 q4v}; do
  env "${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/$q.out" "$binary" serve 2>"$work/valgrind.log" &
  pid=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 1; done
  post "${queries[$q]}" 20
  callgrind_control --zero "$pid" >/dev/null 2>&1
  post "${queries[$q]}" "$requests" 20
  callgrind_control --dump "$pid" >/dev/null 2>&1
  kill -INT "$pid"
  wait "$pid" || true
  total=$(for file in "$work/$q.out".*; do grep -h '^summary:' "$file" | awk '{print $2}'; done | sort -n | tail -1)
  printf '%-4s %14.0f\n' "$q" "$(echo "$total / $requests" | bc -l)"
  rm -f "$work/$q.out"*
done
