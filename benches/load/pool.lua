-- wrk script: every request carries a token drawn at random from the pool file named by
-- the WRK_TOKENS environment variable (one token per line).
local tokens = {}
for line in io.lines(os.getenv("WRK_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. token })
end
