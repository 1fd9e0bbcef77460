"""aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) uploads end to end,
signed here by hand (boto3 does not send this mode), checked chunk by
chunk by the gateway: good uploads land, a tampered chunk or a broken
chain is refused with SignatureDoesNotMatch and leaves nothing behind."""
import datetime
import hashlib
import hmac
import os
import socket

import pytest

from conftest import ALICE

EMPTY = hashlib.sha256(b"").hexdigest()


def _hmac(k, m):
    return hmac.new(k, m.encode(), hashlib.sha256).digest()


def signing_key(secret, date8):
    k = _hmac(("AWS4" + secret).encode(), date8)
    k = _hmac(k, "us-east-1")
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def chunked_put(gw, bucket, key, data, chunk=65536, tamper=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    d8 = amz[:8]
    scope = "%s/us-east-1/s3/aws4_request" % d8
    host = "127.0.0.1:%d" % gw.port
    sizes = [len(data[i:i + chunk]) for i in range(0, len(data), chunk)] + [0]
    enc_len = sum(len("%x;chunk-signature=" % s) + 64 + 2 + s + 2 for s in sizes)
    hdrs = {
        "content-encoding": "aws-chunked",
        "content-length": str(enc_len),
        "host": host,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-date": amz,
        "x-amz-decoded-content-length": str(len(data)),
    }
    signed = ";".join(sorted(hdrs))
    canon = "\n".join(["PUT", "/%s/%s" % (bucket, key), "",
                       "".join("%s:%s\n" % (k, hdrs[k]) for k in sorted(hdrs)), signed,
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key_b = signing_key(ALICE[1], d8)
    seed = hmac.new(key_b, sts.encode(), hashlib.sha256).hexdigest()
    auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ALICE[0], scope, signed, seed)
    body = b""
    prev = seed
    off = 0
    for i, s in enumerate(sizes):
        piece = data[off:off + s]
        off += s
        csts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev, EMPTY,
                          hashlib.sha256(piece).hexdigest()])
        sig = hmac.new(key_b, csts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if tamper == "data" and i == 1:
            piece = b"X" + piece[1:]
        if tamper == "sig" and i == len(sizes) - 1:
            sig = "0" * 64
        body += ("%x;chunk-signature=%s\r\n" % (s, sig)).encode() + piece + b"\r\n"
    assert len(body) == enc_len
    req = "PUT /%s/%s HTTP/1.1\r\n" % (bucket, key)
    req += "".join("%s: %s\r\n" % (k, v) for k, v in hdrs.items())
    req += "Authorization: %s\r\n\r\n" % auth
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.settimeout(10)
    s.sendall(req.encode() + body)
    resp = b""
    while b"\r\n\r\n" not in resp:
        c = s.recv(65536)
        if not c:
            break
        resp += c
    # Read the rest of a small error body if any.
    try:
        s.settimeout(0.5)
        resp += s.recv(65536)
    except OSError:
        pass
    s.close()
    return resp


def test_chunked_upload_ok(gw, s3, bucket):
    data = os.urandom(300000)
    resp = chunked_put(gw, bucket, "chunked.bin", data)
    assert resp.startswith(b"HTTP/1.1 200"), resp
    g = s3.get_object(Bucket=bucket, Key="chunked.bin")
    assert g["Body"].read() == data
    assert g["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    assert "ContentEncoding" not in g   # aws-chunked is not stored
    assert chunked_put(gw, bucket, "empty", b"").startswith(b"HTTP/1.1 200")
    assert s3.get_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


@pytest.mark.parametrize("tamper", ["data", "sig"])
def test_chunked_upload_tampered(gw, s3, bucket, tamper):
    resp = chunked_put(gw, bucket, "bad.bin", os.urandom(200000), tamper=tamper)
    assert resp.startswith(b"HTTP/1.1 403"), resp
    assert b"SignatureDoesNotMatch" in resp
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_payload_sha256_checked(gw, s3, bucket):
    """A body that does not match its signed x-amz-content-sha256 is
    refused (XAmzContentSHA256Mismatch) and nothing is stored."""
    import requests
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = "%s/%s/sha" % (gw.endpoint, bucket)
    claimed = b"the body that was signed"
    req = AWSRequest(method="PUT", url=url, data=claimed)
    S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(req)
    h = dict(req.headers)
    assert h["X-Amz-Content-SHA256"] == hashlib.sha256(claimed).hexdigest()
    r = requests.put(url, data=b"the body that was sent!!", headers=h)
    assert r.status_code == 400 and b"XAmzContentSHA256Mismatch" in r.content
    r = requests.put(url, data=claimed, headers=h)
    assert r.status_code == 200
    assert s3.get_object(Bucket=bucket, Key="sha")["Body"].read() == claimed
