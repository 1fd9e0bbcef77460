"""Virtual-host-style addressing: a gateway with --s3_domain=s3.test
serves Host: BUCKET.s3.test (signed and anonymous) next to path style."""
import os
import re
import subprocess

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ALICE


@pytest.fixture(scope="module")
def vhost_port(gw):
    if not gw.root:
        pytest.skip("external gateway")
    proc = subprocess.Popen([os.environ.get("NORN_S3_BIN", "norn-s3")] + gw.gw_args + [
                             "--s3_port=0",
                             "--s3_domain=s3.test"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=gw.env)
    m = re.search(r"listening on [0-9.]+:(\d+)", proc.stdout.readline())
    assert m
    yield int(m.group(1))
    proc.terminate()
    proc.wait(timeout=10)


def signed(method, host, port, path, data=b""):
    url = "http://%s:%d%s" % (host, port, path)
    req = AWSRequest(method=method, url=url, data=data)
    S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(req)
    h = dict(req.headers)
    h["Host"] = "%s:%d" % (host, port)     # what SigV4 signed (the URL's netloc)
    return requests.request(method, "http://127.0.0.1:%d%s" % (port, path), data=data, headers=h)


def test_virtual_host_style(gw, s3, bucket, vhost_port):
    host = "%s.s3.test" % bucket
    r = signed("PUT", host, vhost_port, "/dir/obj.txt", b"vhost body")
    assert r.status_code == 200, r.content
    assert s3.get_object(Bucket=bucket, Key="dir/obj.txt")["Body"].read() == b"vhost body"
    r = signed("GET", host, vhost_port, "/dir/obj.txt")
    assert r.status_code == 200 and r.content == b"vhost body"
    r = signed("GET", host, vhost_port, "/?list-type=2&prefix=dir%2F")
    assert r.status_code == 200 and b"<Key>dir/obj.txt</Key>" in r.content
    # Path style still works on the same gateway.
    r = signed("GET", "127.0.0.1", vhost_port, "/%s/dir/obj.txt" % bucket)
    assert r.status_code == 200 and r.content == b"vhost body"
    # Anonymous through the virtual host: private refused, public-read served.
    url = "http://127.0.0.1:%d/dir/obj.txt" % vhost_port
    assert requests.get(url, headers={"Host": host}).status_code == 403
    s3.put_object_acl(Bucket=bucket, Key="dir/obj.txt", ACL="public-read")
    r = requests.get(url, headers={"Host": host + ":%d" % vhost_port})
    assert r.status_code == 200 and r.content == b"vhost body"
