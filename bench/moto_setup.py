"""Prepare the peer: a Cognito user pool and a group in a running moto server, made with boto3.

Runs in bench/.venv (moto and boto3 are not populace dependencies). Prints one JSON line:
{"pool": "<UserPoolId>", "group": "<GroupName>"}.

    bench/.venv/bin/python bench/moto_setup.py http://127.0.0.1:PORT
"""

from __future__ import annotations

import json
import sys
import time

import boto3
from botocore.config import Config


def main() -> None:
    endpoint = sys.argv[1]
    client = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            pool = client.create_user_pool(PoolName="bench")["UserPool"]["Id"]
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    group = "bench-group"
    client.create_group(UserPoolId=pool, GroupName=group, Description="bench")
    assert client.get_group(UserPoolId=pool, GroupName=group)["Group"]["GroupName"] == group
    print(json.dumps({"pool": pool, "group": group}))


if __name__ == "__main__":
    main()
