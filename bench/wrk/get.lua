-- GET a random one of the seeded documents d0 … d(COUNT-1).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_KEY")
local count = tonumber(os.getenv("BAAS_COUNT"))
math.randomseed(os.time())
request = function()
  return wrk.format("GET", os.getenv("BAAS_PATH") .. "/d" .. math.random(0, count - 1))
end
