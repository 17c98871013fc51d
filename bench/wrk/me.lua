-- GET /v1/auth/user with a user's access token (JWT check + session query per request).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BAAS_TOKEN")
request = function()
  return wrk.format("GET", "/v1/auth/user")
end
