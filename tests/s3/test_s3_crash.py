"""Crash safety of the cluster backend (NORN_S3_MODE fake|cluster).

A second gateway on the same store is started with NORN_S3_CRASH_AT=<step>
and SIGKILLs itself at that step (the effect of kill -9 at exactly that
point); the tests then check what is visible and that the GC and the
orphan scan (`norn s3 gc --orphans`) reclaim every byte nothing references:

  after-data-write         PUT: data durable, index not switched
  after-index-switch       PUT: index switched, replaced data not queued
  complete-after-manifest  CompleteMultipartUpload: manifest written only
  complete-after-index     CompleteMultipartUpload: index switched, upload
                           record and part records not yet removed

and two gateways racing on one key (NORN_S3_PAUSE_AT holds one of them
between its data write and its index switch): the index compare-and-swap
makes the later writer win and queue the data it replaced, so nothing
leaks even without the orphan scan."""
import os
import signal
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ALICE, MODE, _start_gateway
from test_s3_cluster import census, quiet, settle

pytestmark = pytest.mark.skipif(MODE not in ("fake", "cluster"),
                                reason="needs the cluster backend (NORN_S3_MODE fake|cluster)")

MiB = 1 << 20


class Gw2:
    """A second gateway on the same store, with fault injection."""

    def __init__(self, gw, tmp_path, env_extra, args=()):
        env = dict(gw.env)
        env.update(env_extra)
        self.proc, self.log, self.endpoint = _start_gateway(
            os.environ.get("NORN_S3_BIN", "norn-s3"),
            gw.gw_args + ["--s3_gc_interval_ms=3600000"] + list(args), str(tmp_path), env)
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ALICE[0],
                               aws_secret_access_key=ALICE[1], region_name="us-east-1",
                               config=Config(s3={"addressing_style": "path"},
                                             retries={"max_attempts": 1},
                                             signature_version="s3v4", read_timeout=30))

    def wait_killed(self, timeout=20):
        rc = self.proc.wait(timeout=timeout)
        self.log.close()
        assert rc == -signal.SIGKILL, "gateway exited with %r, not SIGKILL" % rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def orphan_scan(gw):
    """`norn s3 gc --orphans` taking everything unreferenced (grace 1 ms)."""
    time.sleep(0.05)
    p = gw.cli("s3", "gc", "--orphans", "--grace-ms", "1")
    assert p.returncode == 0, p.stderr
    return p.stdout


def crash_on(call):
    """Run a request against a gateway that dies during it."""
    with pytest.raises(Exception):
        call()


def test_crash_after_data_write_small_and_large(gw, s3, bucket, tmp_path):
    base = quiet(gw)["data_objects"]
    for size, stripes in ((4096, 1), (6 * MiB, 2)):
        g2 = Gw2(gw, tmp_path, {"NORN_S3_CRASH_AT": "after-data-write"})
        try:
            crash_on(lambda: g2.s3.put_object(Bucket=bucket, Key="k", Body=os.urandom(size)))
            g2.wait_killed()
        finally:
            g2.stop()
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="k")
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
        # The stripes are durable but invisible: only the orphan scan finds
        # the small one (no intent record on that path).
        assert census(gw)["data_objects"] == base + stripes
        orphan_scan(gw)
        assert census(gw)["data_objects"] == base


def test_crash_after_index_switch(gw, s3, bucket, tmp_path):
    base = quiet(gw)["data_objects"]
    a, b = os.urandom(5000), os.urandom(7000)
    s3.put_object(Bucket=bucket, Key="k", Body=a)
    settle(gw, base + 1)
    g2 = Gw2(gw, tmp_path, {"NORN_S3_CRASH_AT": "after-index-switch"})
    try:
        crash_on(lambda: g2.s3.put_object(Bucket=bucket, Key="k", Body=b))
        g2.wait_killed()
    finally:
        g2.stop()
    # The new version is visible; the old one was never queued for the GC.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b
    assert quiet(gw)["data_objects"] == base + 2
    orphan_scan(gw)
    assert census(gw)["data_objects"] == base + 1
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b
    s3.delete_object(Bucket=bucket, Key="k")
    settle(gw, base)


def _upload_parts(s3, bucket, key):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1, p2 = os.urandom(5 * MiB), os.urandom(1000)
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=2, Body=p2)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    return up, parts, p1 + p2


def _listed(s3, bucket, up):
    return up in [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.mark.parametrize("step", ["complete-after-manifest", "complete-after-index"])
@pytest.mark.parametrize("then", ["retry", "abort"])
def test_multipart_complete_crash(gw, s3, bucket, tmp_path, step, then):
    c0 = quiet(gw)
    base, mbase = c0["data_objects"], c0["manifests"]
    up, parts, body = _upload_parts(s3, bucket, "mp")
    settle(gw, base + 3)                 # 5 MiB part: 2 stripes of 4 MiB; 1000 B part: 1
    g2 = Gw2(gw, tmp_path, {"NORN_S3_CRASH_AT": step})
    try:
        crash_on(lambda: g2.s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                                         MultipartUpload=parts))
        g2.wait_killed()
    finally:
        g2.stop()
    # The upload is still listed (so it can be completed again or aborted).
    assert _listed(s3, bucket, up)
    visible = step == "complete-after-index"
    if visible:
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
    else:
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="mp")
    if then == "retry":
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload=parts)
        assert not _listed(s3, bucket, up)
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
        c = settle(gw, base + 3)
        assert c["manifests"] == mbase + 1
        orphan_scan(gw)
        c = census(gw)
        assert (c["data_objects"], c["manifests"]) == (base + 3, mbase + 1)
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
        s3.delete_object(Bucket=bucket, Key="mp")
    else:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)
        assert not _listed(s3, bucket, up)
        if visible:
            # The completed object keeps its parts: the manifest protects them.
            quiet(gw)
            assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
            orphan_scan(gw)
            assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body
            s3.delete_object(Bucket=bucket, Key="mp")
    c = settle(gw, base)
    orphan_scan(gw)
    c = census(gw)
    assert (c["data_objects"], c["manifests"]) == (base, mbase)


def test_two_gateways_race_on_one_key(gw, s3, bucket, tmp_path):
    """gw2 is held 1.5 s between its data write and its index switch while
    gw writes the same key: gw2's compare-and-swap fails, it reads the entry
    again and replaces it (it is the later writer), queueing gw's data."""
    base = quiet(gw)["data_objects"]
    g2 = Gw2(gw, tmp_path, {"NORN_S3_PAUSE_AT": "before-index-switch:1500"},
             args=["--s3_gc_interval_ms=200"])
    try:
        late, early = os.urandom(3000), os.urandom(6 * MiB)
        res = {}

        def slow_put():
            res["r"] = g2.s3.put_object(Bucket=bucket, Key="k", Body=late)

        t = threading.Thread(target=slow_put)
        t.start()
        time.sleep(0.5)
        s3.put_object(Bucket=bucket, Key="k", Body=early)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == early
        t.join(30)
        assert res["r"]["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == late
        # No orphan scan: the loser's data (gw's 2 stripes) is queued by gw2.
        settle(gw, base + 1)

        if MODE != "cluster":
            return          # the libnorn test double is not safe across processes
        # Many writers on one key through both gateways at once.
        stop = time.time() + 3
        errors = []

        def writer(client, n):
            i = 0
            while time.time() < stop:
                body = os.urandom(4096 if i % 3 else 5 * MiB)
                try:
                    client.put_object(Bucket=bucket, Key="hot", Body=body)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
                i += 1

        ts = [threading.Thread(target=writer, args=(c, n))
              for n, c in enumerate([s3, g2.s3, gw.client(), g2.s3])]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors, errors[:3]
        size = s3.head_object(Bucket=bucket, Key="hot")["ContentLength"]
        settle(gw, base + 1 + (2 if size > 4096 else 1), timeout=60)
    finally:
        g2.stop()
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_object(Bucket=bucket, Key="hot")
    settle(gw, base)
