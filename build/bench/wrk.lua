-- wrk script of `make bench`: one endpoint (or its static twin), set up from the environment.
--   BENCH_METHOD   GET or POST
--   BENCH_PATH     the request path (with its query)
--   BENCH_TOKEN    a session token sent as "Authorization: Bearer" (optional)
--   BENCH_BODIES   a file of JSON bodies, one per line, sent in turn (optional)
--   BENCH_OUT      where done() appends its JSON line
--   BENCH_LABEL    endpoint, kind and round written into that line ("me app 2")
--   BENCH_TIMED    1: also time completions (for slow endpoints: logins). With 32 logins
--                  sharing 2 cores they finish in waves, and a fixed window cuts the last one
--                  off; completions / (last completion - first request) does not.
--   BENCH_SECONDS  with BENCH_TIMED: no request starts after this many seconds, and each wrk
--                  thread stops once its last request has answered (run wrk with a longer -d).
--                  The bcrypt ceiling counts the same way: every hash started in the window
--                  is finished and counted, over the time until the last one ends. Without
--                  the drain, the partly done wave at the end of the window costs CPU that no
--                  counted login gets (a third of a 3 s run, a tenth of a 10 s one).
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local token = os.getenv("BENCH_TOKEN")
local bodies_file = os.getenv("BENCH_BODIES")

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local requests = {}
local threads = {}
local next_i = 0
local thread_count = 0

local function headers()
    local h = {}
    if token and token ~= "" then
        h["Authorization"] = "Bearer " .. token
    end
    return h
end

function setup(thread)
    threads[#threads + 1] = thread
    thread:set("bench_thread", thread_count)
    thread_count = thread_count + 1
end

function init(args)
    local h = headers()
    if bodies_file and bodies_file ~= "" then
        h["Content-Type"] = "application/json"
        for line in io.lines(bodies_file) do
            if line ~= "" then
                requests[#requests + 1] = wrk.format(method, path, h, line)
            end
        end
    end
    if #requests == 0 then
        requests[1] = wrk.format(method, path, h, nil)
    end
    -- threads start at different bodies (logins then spread over different accounts)
    next_i = (bench_thread or 0) * 7
    t_first = now()
    completed = 0
    issued = 0
    t_last = 0
end

-- defined only when wanted: wrk then hands every answer to Lua, which costs
local window = tonumber(os.getenv("BENCH_SECONDS") or "")
if os.getenv("BENCH_TIMED") == "1" then
    function response(status, headers, body)
        completed = completed + 1
        t_last = now()
        if window and t_last - t_first >= window and completed >= issued then
            wrk.thread:stop()
        end
    end
    if window then
        function delay()
            -- past the window: the connection waits (for longer than any run) instead of
            -- starting another request
            if now() - t_first >= window then return 3600000 end
            return 0
        end
    end
end

function request()
    next_i = next_i + 1
    -- (a connection the server closed while waiting past the window reconnects and sends at
    -- once: such late requests are not waited for)
    if not window or now() - t_first < window then issued = issued + 1 end
    return requests[(next_i % #requests) + 1]
end

function done(summary, latency, reqs)
    local e = summary.errors
    local secs = summary.duration / 1e6
    local f = assert(io.open(os.getenv("BENCH_OUT"), "a"))
    local label = os.getenv("BENCH_LABEL") or "? ? 0"
    local ep, kind, round = label:match("^(%S+)%s+(%S+)%s+(%d+)")
    local timed = "null"
    if os.getenv("BENCH_TIMED") == "1" then
        local first, last, n = math.huge, 0, 0
        for _, t in ipairs(threads) do
            first = math.min(first, t:get("t_first"))
            last = math.max(last, t:get("t_last"))
            n = n + t:get("completed")
        end
        if n > 0 and last > first then timed = string.format("%.3f", n / (last - first)) end
        for _, t in ipairs(threads) do
            if window and t:get("completed") < t:get("issued") then
                io.stderr:write("wrk.lua: the logins in flight did not all finish within -d\n")
            end
        end
    end
    f:write(string.format(
        '{"endpoint":"%s","kind":"%s","round":%d,"requests":%d,"seconds":%.3f,"rps":%.3f,' ..
        '"timed_rps":%s,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
        ep, kind, tonumber(round), summary.requests, secs, summary.requests / secs, timed,
        latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
    f:close()
end
