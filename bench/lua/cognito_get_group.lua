-- moto's Cognito IdP: GetGroup through the JSON API, as the AWS SDK sends it (a SigV4-shaped
-- Authorization header with fake credentials: moto reads the service and region from it).
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AWSCognitoIdentityProviderService.GetGroup"
wrk.headers["Authorization"] = common.env("BENCH_AWS_AUTH")
wrk.body = '{"UserPoolId":"' .. common.env("BENCH_POOL") .. '","GroupName":"'
  .. common.env("BENCH_GROUP") .. '"}'
