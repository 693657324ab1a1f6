#!/usr/bin/env bash
# What the query limits and the metrics cost per Q1 request, measured in one run: the release
# gateway runs under callgrind (which counts instructions, not seconds, so the figure does not move
# with the machine's load), serves N Q1 requests, and the instructions spent in the limit checks and
# the metric recording are compared with all instructions spent handling the requests.
#
#   bench/overhead.sh [requests]     (default 300; needs valgrind, curl, a seeded gateway_bench_export
#                                     from bench/portable.sh, or BENCH_DATABASE_URL)
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${1:-300}
database_url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gateway_bench_export}
port=8767
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --bin gateway
DATABASE_URL=$database_url GATEWAY_LOG=warn GATEWAY_LISTEN=127.0.0.1:$port \
  valgrind --tool=callgrind --callgrind-out-file="$work/out" target/release/gateway 2>"$work/valgrind.log" &
pid=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 1; done
query='{"query":"{ tasks(first: 100) { nodes { id title status priority dueOn } } }"}'
for _ in $(seq 1 "$requests"); do
  curl -sf "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d "$query" >/dev/null
done
kill -INT "$pid"
wait "$pid" || true

callgrind_annotate --inclusive=yes --threshold=100 "$work/out" 2>/dev/null | awk -v requests="$requests" '
  function count(line) { gsub(/,/, "", line); split(line, parts, " "); return parts[1] + 0 }
  /gateway::server::http::run::\{\{closure\}\}/ { total += count($0) }
  /gateway::schema::limits::QueryLimits::check / { limits += count($0) }
  /QueryLimits as async_graphql::extensions::Extension>::parse_query/ { limits += count($0) }
  /QueryLimits as async_graphql::extensions::ExtensionFactory>::create/ { limits += count($0) }
  /drop_in_place<<gateway::schema::limits::QueryLimits/ { limits += count($0) }
  /gateway::server::metrics::(operation|statement) / { metrics += count($0) }
  END {
    printf "Q1 requests: %d\n", requests
    printf "instructions per request (handling):   %12.0f\n", total / requests
    printf "  query limits:                        %12.0f  (%.2f%%)\n", limits / requests, 100 * limits / total
    printf "  metrics:                             %12.0f  (%.2f%%)\n", metrics / requests, 100 * metrics / total
    printf "  together:                                          %.2f%% of the instructions per request\n", 100 * (limits + metrics) / total
  }'
