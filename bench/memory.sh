#!/usr/bin/env bash
# The gateway's resident memory around large answers: idle, the peak while 16 clients at once
# fetch a 2.9 MB answer (`tasks(first: 10000)` with 11 columns at scale 1), three rounds, right
# after, and 10 s later (whether freed memory goes back to the system). Then throughput of that
# query with 4 connections (wrk, 8 s), so an allocator setting that saves memory by costing time
# shows it. RSS is read from /proc, sampled every 50 ms.
#
#   bench/memory.sh [binary]     (default target/release/gateway; needs curl and wrk, and a seeded
#                                 database: BENCH_DATABASE_URL, default the side-by-side's `sbs`)
#
# _RJEM_MALLOC_CONF overrides the allocator options compiled into src/main.rs, to try others;
# GATEWAY_MAX_RESPONSE_BYTES_TOTAL bounds the answers in flight (refused ones are counted).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-target/release/gateway}
database_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sbs}
port=8768
query='{"query":"{ tasks(first: 10000) { nodes { id title status priority dueOn estimateHours metadata createdAt updatedAt projectId assigneeId } } }"}'
script=$(mktemp)
codes=$(mktemp)
trap 'rm -f "$script" "$codes"' EXIT
cat > "$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$query'
LUA

DATABASE_URL=$database_url GATEWAY_LISTEN=127.0.0.1:$port GATEWAY_LOG=warn "$binary" serve >/dev/null 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null; rm -f "$script" "$codes"' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$gateway/status"; }

idle=$(rss)
peak=0
for _ in 1 2 3; do
  clients=()
  for _ in $(seq 16); do
    curl -s "127.0.0.1:$port/graphql" -H 'content-type: application/json' \
      -H 'accept: application/graphql-response+json' -d "$query" -o /dev/null \
      -w '%{http_code}\n' >>"$codes" &
    clients+=($!)
  done
  while kill -0 "${clients[@]}" 2>/dev/null; do
    now=$(rss)
    if [ "$now" -gt "$peak" ]; then peak=$now; fi
    sleep 0.05
  done
  wait "${clients[@]}"
done
after=$(rss)
sleep 10
later=$(rss)
rate=$(wrk -t2 -c4 -d8s -s "$script" "http://127.0.0.1:$port/graphql" | awk '/Requests\/sec/ {print $2}')
refused=$(grep -vc '^200$' "$codes" || true)
echo "RSS: idle ${idle} MB, peak ${peak} MB, right after ${after} MB, 10 s later ${later} MB; ${rate} answers/s; burst answers refused: ${refused} of 48"
