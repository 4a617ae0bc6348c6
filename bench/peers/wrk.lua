-- wrk script for bench/http.sh.
-- With WRK_POST_FILE=path set, every request is a POST of that file's
-- contents as application/json (the JSON echo handler); otherwise a GET.
-- At the end it prints one machine-readable line, "WRKJSON {...}", with
-- exact counts and latency percentiles (µs) for the script to parse.
local post_file = os.getenv("WRK_POST_FILE")
if post_file and post_file ~= "" then
  local f = assert(io.open(post_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
