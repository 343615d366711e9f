-- moto's Cognito IdP: CreateGroup with a group name no other request uses.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local pool = common.env("BENCH_POOL")
local headers = {
  ["Content-Type"] = "application/x-amz-json-1.1",
  ["X-Amz-Target"] = "AWSCognitoIdentityProviderService.CreateGroup",
  ["Authorization"] = common.env("BENCH_AWS_AUTH"),
}

function request()
  local body = '{"UserPoolId":"' .. pool .. '","GroupName":"' .. common.unique()
    .. '","Description":"bench"}'
  return wrk.format("POST", "/", headers, body)
end
