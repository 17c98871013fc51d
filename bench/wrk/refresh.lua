-- POST /v1/auth/token/refresh with rotation: every refresh token is single-use, so each session's
-- next request must carry the token its previous answer handed out. wrk does not tell which
-- connection a response came on, so each thread keeps a pool of its sessions' newest tokens:
-- `request` takes one out, `response` puts the answer's new one back. A thread has as many
-- sessions as connections, and a connection sends its next request only after its answer, so
-- every session has one request in flight at most (none is ever refused as a reuse). wrk also
-- builds one request of the first thread to check the script, never sent: that session's token is
-- lost, so each thread gets a spare session.
-- BAAS_REFRESH_TOKENS: the sessions' first refresh tokens, comma-separated (one per connection,
-- and one more per thread).
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  pool = {}
  local all = {}
  for token in string.gmatch(os.getenv("BAAS_REFRESH_TOKENS"), "[^,]+") do
    table.insert(all, token)
  end
  local count = tonumber(os.getenv("BAAS_WRK_THREADS") or "2")
  for index, token in ipairs(all) do
    if (index - 1) % count == id - 1 then
      table.insert(pool, token)
    end
  end
  lost = 0
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  local token = table.remove(pool) or "exhausted"
  return wrk.format(nil, "/v1/auth/token/refresh", nil, '{"refresh":"' .. token .. '"}')
end

response = function(status, headers, body)
  local token = string.match(body, '"refresh"%s*:%s*"([^"]+)"')
  if status == 200 and token then
    table.insert(pool, token)
  else
    lost = lost + 1
  end
end
