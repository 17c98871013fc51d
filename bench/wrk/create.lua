-- POST a small document; the server picks the id.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_KEY")
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"data": {"title": "note %d", "n": %d, "tags": ["a", "b"]}}', n, n % 1000)
  return wrk.format(nil, os.getenv("BAAS_PATH"), nil, body)
end
