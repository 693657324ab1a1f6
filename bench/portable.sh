#!/usr/bin/env bash
# Export/import benchmark: rows per second and peak memory of `gateway export` and `gateway import`
# (release build) at a given scale, PostgreSQL and SQLite, plain and zstd.
#
#   bench/portable.sh [scale]        (default 1: 120,810 rows)
#
# Needs PostgreSQL reachable as BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres)
# and GNU time (/usr/bin/time) for the peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=${1:-1}
admin=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
source_url=${admin%/*}/gateway_bench_export
target_url=${admin%/*}/gateway_bench_import
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building the gateway (release)"
cargo build --release --quiet --bin gateway
gateway=$PWD/target/release/gateway

fresh() {
  psql "$admin" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
  DATABASE_URL=${admin%/*}/$1 $gateway migrate up >/dev/null 2>&1
}

# Runs a gateway command and prints its summary line and peak memory.
measure() {
  local label=$1
  shift
  /usr/bin/time -f "%M" -o "$work/rss" "$@" 2>"$work/err" >/dev/null || { cat "$work/err"; exit 1; }
  local summary
  summary=$(grep -E '^(exported|imported)' "$work/err" | sed -E 's/: organizations.*//')
  printf '%-34s %-60s peak RSS %6.1f MiB\n' "$label" "$summary" "$(echo "$(cat "$work/rss") / 1024" | bc -l)"
}

echo "== source: PostgreSQL at scale $scale"
fresh gateway_bench_export
DATABASE_URL=$source_url $gateway seed --scale "$scale" >/dev/null 2>&1

measure "export PostgreSQL → .ndjson" env DATABASE_URL="$source_url" $gateway export "$work/data.ndjson"
measure "export PostgreSQL → .ndjson.zst" env DATABASE_URL="$source_url" $gateway export "$work/data.ndjson.zst"
ls -l "$work"/data.ndjson* | awk '{printf "  %s: %.1f MiB\n", $9, $5 / 1048576}'
fresh gateway_bench_import
measure "import .ndjson.zst → PostgreSQL" env DATABASE_URL="$target_url" $gateway import "$work/data.ndjson.zst"
DATABASE_URL="sqlite://$work/copy.db" $gateway migrate up >/dev/null 2>&1
measure "import .ndjson → SQLite" env DATABASE_URL="sqlite://$work/copy.db" $gateway import "$work/data.ndjson"
measure "export SQLite → .ndjson.gz" env DATABASE_URL="sqlite://$work/copy.db" $gateway export "$work/back.ndjson.gz"
