-- wrk script for `sync serve`: POST /profiles, a different profile (email) on every request.
-- Used by `npm run bench serve-wrk`; by hand:
--   wrk -t2 -c1500 -d15s --latency -s bench/wrk-post.lua http://127.0.0.1:PORT/profiles
local threads = 0
local run = tostring(os.time())

-- setup() runs once per thread in the main state: number the threads so their emails differ.
function setup(thread)
  threads = threads + 1
  thread:set("tag", threads .. "." .. run)
end

local counter = 0
function request()
  counter = counter + 1
  local body = '{"email":"wrk' .. counter .. '.' .. tag .. '@example.com","firstName":"Load","lastName":"Test"}'
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, body)
end
