-- POST /addemp with IDs that are unique across wrk's threads and across runs:
-- scripts/bench.sh gives each run its own BENCH_ID_BASE, and each thread counts
-- up from its own block of 10 million IDs above that base.
dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/report.lua")

local base = tonumber(os.getenv("BENCH_ID_BASE") or "1000000000")
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

local next_id

function init(args)
  next_id = base + thread_no * 10000000
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  next_id = next_id + 1
  return wrk.format("POST", "/addemp", headers, string.format(
    "emp_id=%d&first_name=Bench&last_name=User%d&primary_skill=Load+testing&location=Toronto",
    next_id, next_id % 100000))
end
