"""`norn s3 user|key ...` on the gateway's user store (dev dir or cluster),
and the gateway seeing a key added or removed while it runs (the cluster
backend caches keys for s3_user_cache_ms, 1 s by default: a removed key
stops working within that time)."""
import json
import os
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def norn(gw, *args, check=True):
    """`norn ARGS` against the gateway's user store (fs dir or cluster)."""
    p = gw.cli(*args)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def refused_soon(call, timeout=5):
    """The ClientError `call` raises within `timeout` seconds (key caches)."""
    deadline = time.time() + timeout
    while True:
        try:
            call()
        except ClientError as e:
            return e
        assert time.time() < deadline, "still accepted after %d s" % timeout
        time.sleep(0.2)


def test_user_and_key_lifecycle(gw):
    if not gw.root:
        pytest.skip("external gateway")
    out = norn(gw, "s3", "user", "create", "dave", "--display-name", "Dave D").stdout
    kv = dict(l.split(" ", 1) for l in out.strip().splitlines())
    assert kv["uid"] == "dave"
    assert "dave" in norn(gw, "s3", "user", "ls").stdout.split()
    assert norn(gw, "s3", "user", "create", "dave", check=False).returncode == 1
    c = boto3.client("s3", endpoint_url=gw.endpoint, aws_access_key_id=kv["access_key"],
                     aws_secret_access_key=kv["secret_key"], region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    assert c.list_buckets()["Buckets"] == []
    info = json.loads(norn(gw, "-f", "json", "s3", "user", "info", "dave").stdout)
    assert info[0]["display_name"] == "Dave D" and info[0]["access_key"] == kv["access_key"]
    out = norn(gw, "s3", "key", "add", "dave").stdout
    k2 = dict(l.split(" ", 1) for l in out.strip().splitlines())
    norn(gw, "s3", "key", "rm", "dave", kv["access_key"])
    e = refused_soon(c.list_buckets)
    assert e.response["Error"]["Code"] == "InvalidAccessKeyId"
    c2 = boto3.client("s3", endpoint_url=gw.endpoint, aws_access_key_id=k2["access_key"],
                      aws_secret_access_key=k2["secret_key"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    assert c2.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    norn(gw, "s3", "user", "rm", "dave")
    assert norn(gw, "s3", "user", "info", "dave", check=False).returncode == 1
    refused_soon(c2.list_buckets)
    assert norn(gw, "s3", "user", "frob", check=False).returncode == 2
