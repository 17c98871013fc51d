-- GET one of the objects BAAS_PATH/small/000000 … small/(COUNT-1), at random.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_KEY")
local count = tonumber(os.getenv("BAAS_COUNT"))
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format("%s/small/%06d", os.getenv("BAAS_PATH"), math.random(0, count - 1)))
end
