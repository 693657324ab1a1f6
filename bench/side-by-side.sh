#!/usr/bin/env bash
# The gateway next to PostGraphile v5 and hand-written SQL (pgbench) on one database, for Q1–Q5:
# every combination of scale, connections and token given, then the operation cache's hit rate
# under the same load. Uses the harness in ../shared/bench-peers (its README says what each query
# is); builds the release gateway first.
#
#   bench/side-by-side.sh [seconds]     (default 6 s per cell; SCALES="1 10", CONNECTIONS="16 64",
#                                        ROLES="none member" choose the matrix)
#
# Each line of a table is one run: the three servers are loaded one after another in the same
# minute, so read the ratios (gw/pgl, gw/sql); absolute rates move with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-6}
peers=../shared/bench-peers
[ -x "$peers/side-by-side" ] || { echo "side-by-side.sh: no harness at $peers" >&2; exit 1; }
cargo build --release --quiet --bin gateway
binary=$PWD/target/release/gateway

for scale in ${SCALES:-1 10}; do
  first=1
  for connections in ${CONNECTIONS:-16 64}; do
    for role in ${ROLES:-none member}; do
      # The database is made once per scale.
      skip=$([ "$first" = 1 ] && echo 0 || echo 1)
      first=0
      if [ "$role" = member ]; then
        # Authentication needs a policy: the project's (the harness passes the rest of the environment on).
        GATEWAY_POLICY_FILE=$PWD/policy.toml SKIP_LOAD=$skip ROLE=member GATEWAY_BIN=$binary \
          "$peers/side-by-side" "$scale" "$seconds" "$connections"
      else
        SKIP_LOAD=$skip GATEWAY_BIN=$binary "$peers/side-by-side" "$scale" "$seconds" "$connections"
      fi
    done
  done
done

# The operation cache under load: Q1 for a few seconds, then what /metrics counted.
port=8768
DATABASE_URL=postgres://postgres@127.0.0.1:5432/sbs GATEWAY_LOG=warn GATEWAY_LISTEN=127.0.0.1:$port "$binary" serve &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
body=$(mktemp)
echo '{"query":"query Q1 { tasks(first: 100, orderBy: [{id: ASC}]) { nodes { id title status priority createdAt } } }"}' >"$body"
"$peers/gql-load" "http://127.0.0.1:$port/graphql" "$body" 16 "$seconds" >/dev/null
curl -s "http://127.0.0.1:$port/metrics" | awk '
  /^gateway_operation_cache_total\{result="hit"\}/ { hit = $2 }
  /^gateway_operation_cache_total\{result="miss"\}/ { miss = $2 }
  /^gateway_documents_parsed_total/ { parsed = $2 }
  /^gateway_operation_compilations_total/ { compiled = $2 }
  END { printf "operation cache under Q1 load: %d hits, %d misses (hit rate %.4f), %d documents parsed, %d compilations\n", hit, miss, hit / (hit + miss), parsed, compiled }'
rm -f "$body"

# The same with another key in every request (Q4 with `$id`): the key is a slot, so one compilation
# serves them all.
read -r first count < <(psql postgres://postgres@127.0.0.1:5432/sbs -qAt -F' ' -c "select min(id), count(*) from tasks")
FIRST_ID=$first ID_COUNT=$count wrk -t1 -c16 -d"${seconds}s" -s bench/varying-key.lua "http://127.0.0.1:$port/graphql" | grep '^RESULT' | sed 's/^RESULT /Q4 with a new $id each request: /'
curl -s "http://127.0.0.1:$port/metrics" | awk '
  /^gateway_operation_cache_total\{result="hit"\}/ { hit = $2 }
  /^gateway_operation_cache_total\{result="miss"\}/ { miss = $2 }
  /^gateway_operation_compilations_total/ { compiled = $2 }
  END { printf "operation cache after both loads: %d hits, %d misses (hit rate %.4f), %d compilations\n", hit, miss, hit / (hit + miss), compiled }'
