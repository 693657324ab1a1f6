-- wrk script for bench/side-by-side.sh: Q4 by primary key with `$id` a variable, another task in
-- every request (ids FIRST_ID .. FIRST_ID + ID_COUNT - 1 in turn), so the operation cache sees one
-- document with ever new variables. Prints one summary line from done().
local first = tonumber(os.getenv("FIRST_ID"))
local count = tonumber(os.getenv("ID_COUNT"))
local query = "query Q4V($id: ID!) { task(id: $id) { id title status priority dueOn estimateHours metadata createdAt } }"
local sent = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  sent = sent + 1
  local body = string.format('{"query":"%s","variables":{"id":%d}}', query, first + sent % count)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT req/s=%.1f p50=%.2fms p99=%.2fms non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status))
end
