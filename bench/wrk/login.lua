-- POST /v1/auth/token with the same account's credentials (argon2 verification each time).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "' .. os.getenv("BAAS_EMAIL") .. '", "password": "' .. os.getenv("BAAS_PASSWORD") .. '"}'
request = function()
  return wrk.format(nil, "/v1/auth/token")
end
