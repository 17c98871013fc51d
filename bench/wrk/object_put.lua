-- PUT a 4 KiB object at a new path each time: up/<wrk thread>-<n> in BAAS_PATH's bucket.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_KEY")
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local bytes = {}
math.randomseed(os.time())
for i = 1, 4096 do bytes[i] = string.char(math.random(0, 255)) end
local payload = table.concat(bytes)
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, string.format("%s/up/%d-%d", os.getenv("BAAS_PATH"), tid, n), nil, payload)
end
