"""The cluster backend's layout (NORN_S3_MODE fake or cluster): data is
reclaimed by the garbage collector after overwrites, deletes, aborted
multipart uploads and interrupted PUTs; an interrupted upload leaves
nothing visible; and (real cluster only) an OSD killed with SIGKILL during
an upload: the upload succeeds, or fails with a retryable error and the
retry succeeds, and the object reads back byte-identical."""
import hashlib
import json
import os
import socket
import threading
import time

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ALICE, MODE

pytestmark = pytest.mark.skipif(MODE not in ("fake", "cluster"),
                                reason="needs the cluster backend (NORN_S3_MODE fake|cluster)")

MiB = 1 << 20


def census(gw):
    p = gw.cli("-f", "json", "s3", "census")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def settle(gw, want_data, timeout=30):
    """Wait until the GC queue is empty and the data stripe count is want_data."""
    deadline = time.time() + timeout
    c = None
    while time.time() < deadline:
        c = census(gw)
        if c["gc_pending"] == 0 and c["data_objects"] == want_data:
            return c
        time.sleep(0.3)
    raise AssertionError("census did not settle to %d data objects: %r" % (want_data, c))


def quiet(gw, timeout=90):
    """Wait for an empty GC queue; return the census."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        c = census(gw)
        if c["gc_pending"] == 0:
            return c
        time.sleep(0.3)
    raise AssertionError("GC queue never drained: %r" % census(gw))


def test_gc_reclaims_overwritten_and_deleted(gw, s3, bucket):
    base = quiet(gw)["data_objects"]
    a = os.urandom(10 * MiB)        # 3 stripes of 4 MiB
    s3.put_object(Bucket=bucket, Key="k", Body=a)
    c = settle(gw, base + 3)
    assert c["data_objects"] == base + 3
    b = os.urandom(MiB)
    s3.put_object(Bucket=bucket, Key="k", Body=b)
    settle(gw, base + 1)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b
    s3.delete_object(Bucket=bucket, Key="k")
    settle(gw, base)
    # A zero-byte object has no stripes at all.
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    s3.delete_object(Bucket=bucket, Key="empty")
    settle(gw, base)


def test_multipart_no_copy_and_gc(gw, s3, bucket):
    base = quiet(gw)["data_objects"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    p1, p2, p3 = os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123)
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    # Part 2 uploaded twice: the first copy is garbage.
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=os.urandom(5 * MiB))
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=p2)["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=3, Body=p3)["ETag"]
    # Nothing is visible before completion.
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mp")
    settle(gw, base + 2 + 2 + 1)        # parts 1, 2 (2 stripes each), 3; old part 2 reclaimed
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2},
                  {"PartNumber": 3, "ETag": e3}]})
    # Completion stitched the parts with a manifest: no stripe was copied.
    c = settle(gw, base + 5)
    assert c["manifests"] >= 1
    body = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
    assert hashlib.md5(body).digest() == hashlib.md5(p1 + p2 + p3).digest()
    r = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=%d-%d" % (5 * MiB - 3, 10 * MiB + 2))
    assert r["Body"].read() == (p1 + p2 + p3)[5 * MiB - 3:10 * MiB + 3]
    s3.delete_object(Bucket=bucket, Key="mp")
    settle(gw, base)
    m = quiet(gw)["manifests"]
    assert m == c["manifests"] - 1

    # Aborted upload: parts reclaimed, nothing visible.
    up = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=up, PartNumber=1, Body=os.urandom(5 * MiB))
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=up)
    settle(gw, base)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def _signed_put_headers(gw, bucket, key, length):
    url = "%s/%s/%s" % (gw.endpoint, bucket, key)
    req = AWSRequest(method="PUT", url=url, headers={"Content-Length": str(length),
                                                     "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(req)
    return req


def test_interrupted_put_leaves_nothing(gw, s3, bucket):
    base = quiet(gw)["data_objects"]
    total = 12 * MiB
    req = _signed_put_headers(gw, bucket, "cut", total)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    head = "PUT /%s/cut HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (bucket, gw.port)
    for k, v in req.headers.items():
        if k.lower() != "host":
            head += "%s: %s\r\n" % (k, v)
    s.sendall(head.encode() + b"\r\n")
    s.sendall(os.urandom(9 * MiB))       # more than two stripes reach the cluster
    time.sleep(0.5)
    s.close()                            # the client goes away mid-body
    time.sleep(0.5)
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="cut")
    assert ei.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    settle(gw, base)


@pytest.mark.skipif(MODE != "cluster", reason="needs a real cluster")
def test_osd_killed_during_upload(gw, s3, bucket, tmp_path):
    cl = gw.cluster
    src = tmp_path / "src.bin"
    size = 96 * MiB
    with open(src, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    victim = sorted(cl.osd_pids())[-1]
    progress = [0]
    killed = threading.Event()

    def cb(n):
        progress[0] += n
        if progress[0] > size // 4 and not killed.is_set():
            killed.set()
            threading.Thread(target=cl.kill_osd, args=(victim,)).start()

    attempts = 0
    while True:
        attempts += 1
        try:
            s3.upload_file(str(src), bucket, "big", Config=cfg, Callback=cb)
            break
        except ClientError as e:
            code = e.response["Error"]["Code"]
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status in (500, 503) or code in ("ServiceUnavailable", "SlowDown",
                                                    "InternalError"), e
            assert attempts < 4, "upload kept failing after the OSD kill: %s" % e
    assert killed.is_set()
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "big", str(out))
    h1, h2 = hashlib.sha256(), hashlib.sha256()
    for path, h in ((src, h1), (out, h2)):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(MiB), b""):
                h.update(chunk)
    assert h1.digest() == h2.digest()
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["big"]
    # The OSD stays down for the rest of the session (pool size 2,
    # min_size 1): bringing it back is the OSD recovery tests' business.


@pytest.mark.skipif(MODE != "cluster", reason="needs a real cluster")
def test_gateway_identity_has_only_its_caps(gw, s3, bucket, tmp_path):
    """The gateway authenticates as client.s3 (mon 'allow r', osd 'allow rw
    pool=s3'): it serves S3, and the same key can neither touch another
    pool nor change the cluster."""
    from conftest import GW_CAPS, GW_ENTITY
    keyring = os.path.join(gw.root, "s3.keyring")
    info = gw.cluster.cli_json("auth", "get", GW_ENTITY)
    assert info["caps"] == "%s '%s' %s '%s'" % GW_CAPS
    s3.put_object(Bucket=bucket, Key="x", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"hello"
    gw.cluster.create_pool("other", pg_num=8, size=2, min_size=1)
    src = tmp_path / "f"
    src.write_bytes(b"data")
    as_gw = ["-n", GW_ENTITY, "-k", keyring]
    p = gw.cli(*as_gw, "put", "s3", "caps-probe", str(src))
    assert p.returncode == 0, p.stderr
    assert gw.cli(*as_gw, "rm", "s3", "caps-probe").returncode == 0
    p = gw.cli(*as_gw, "put", "other", "caps-probe", str(src))
    assert p.returncode != 0
    assert "not permitted" in p.stderr, p.stderr
    p = gw.cli(*as_gw, "pool", "create", "evil", "8")
    assert p.returncode != 0
    assert gw.cli("pool", "rm", "other", "--yes-i-really-mean-it").returncode in (0, 1, 2)
