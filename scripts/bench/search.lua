-- GET /employees?q=... for scripts/bench/search.sh: each request searches for a random
-- line of the file BENCH_QUERIES (query strings, already percent-encoded).
dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/report.lua")

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

local queries = {}

function init(args)
  math.randomseed(os.time() * 1000 + thread_no)
  for line in io.lines(os.getenv("BENCH_QUERIES")) do
    queries[#queries + 1] = line
  end
  assert(#queries > 0, "no queries in " .. os.getenv("BENCH_QUERIES"))
end

function request()
  return wrk.format("GET", "/employees?" .. queries[math.random(1, #queries)])
end
