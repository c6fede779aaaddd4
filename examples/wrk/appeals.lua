-- wrk script: POST /api/v1/appeals with one distinct applicant per request.
--
--   wrk -t2 -c64 -d10s --latency -s examples/wrk/appeals.lua http://127.0.0.1:8080
--
-- Run the server with the per-address rate limit off (the load comes from one address):
--   baylanys serve --rate-limit-per-minute 0
-- `cargo run --release --example appeals_load -- sqlite|postgres wrk` starts a server on a
-- fresh database and runs exactly this. Every answer other than 201 is counted and the
-- first few are printed, so a run full of errors cannot pass for a fast one.

local threads = {}
local run = tostring(os.time())

function setup(thread)
  thread:set("tid", #threads + 1)
  thread:set("run", run)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  created = 0
  other = 0
  shown = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"name":"Бенчмарк Тест","email":"wrk%s-%d-%d@example.kz","region":"astana",' ..
    '"topic":"other","consent":true,' ..
    '"text":"Нагрузочное обращение %d-%d: проверка пропускной способности"}',
    run, tid, n, tid, n)
  return wrk.format("POST", "/api/v1/appeals",
    { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
    if shown < 3 then
      shown = shown + 1
      io.stderr:write(string.format("answer %d: %s\n", status, body))
    end
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + t:get("created")
    bad = bad + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("appeals created: %d (%d other answers, %d socket errors)\n",
    ok, bad, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
  io.write(string.format("appeals/s:       %.0f\n", ok / secs))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("latency p%-5s   %.2f ms\n", tostring(p), latency:percentile(p) / 1000))
  end
end
