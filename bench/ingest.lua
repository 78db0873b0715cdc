-- wrk script for bench/ingest.py: POSTs pre-signed Twilio SMS webhooks, each once.
-- Usage: wrk -s ingest.lua URL -- PREFIX   (reads PREFIX-<thread>.txt: "signature<TAB>body")
local next_id = 0
local threads = {}

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local file = assert(io.open(args[1] .. "-" .. id .. ".txt", "r"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  file:close()
  index = 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1 -- a replay: stored once by the server, still answered 200
  end
  local item = requests[index]
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = item[1],
  }, item[2])
end
