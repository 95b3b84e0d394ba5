-- POST /fetchdata for random employees among the seeded ids 1..BENCH_SEEDED.
dofile((os.getenv("BENCH_LUA_DIR") or "scripts/bench") .. "/report.lua")

local seeded = tonumber(os.getenv("BENCH_SEEDED") or "10000")
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_no)
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  return wrk.format("POST", "/fetchdata", headers,
    "emp_id=" .. math.random(1, seeded))
end
