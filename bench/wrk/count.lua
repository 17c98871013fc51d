-- GET the count of a filter that matches ~20 documents, varying the value.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_KEY")
math.randomseed(os.time())
request = function()
  local value = math.random(0, 499)
  return wrk.format("GET", os.getenv("BAAS_PATH") .. "/count?filter=bucket%20%3D%3D%20" .. value)
end
