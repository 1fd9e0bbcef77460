"""Fixtures for the S3 gateway tests: start norn-s3 on 127.0.0.1 with the
fs development backend in a temporary directory, with two users (alice,
bob) whose keys are fixed. NORN_S3_BIN and NORN_BIN name the binaries
(set by run_pytest.sh). NORN_S3_ENDPOINT, if set, targets a running
gateway instead (then NORN_S3_USERS gives 'ak:sk,ak:sk')."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ALICE = ("NKALICEKEY0000000001", "alice-secret-key-0000000000000000000000001")
BOB = ("NKBOBKEY000000000002", "bob-secret-key-00000000000000000000000000002")


class Gateway:
    def __init__(self, endpoint, root, proc):
        self.endpoint = endpoint
        self.root = root
        self.proc = proc
        self.port = int(endpoint.rsplit(":", 1)[1])

    def client(self, keys=ALICE, **cfg):
        c = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                   signature_version="s3v4", **cfg)
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=keys[0],
                            aws_secret_access_key=keys[1], region_name="us-east-1", config=c)

    def resource(self, keys=ALICE):
        return boto3.resource("s3", endpoint_url=self.endpoint, aws_access_key_id=keys[0],
                              aws_secret_access_key=keys[1], region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}))


@pytest.fixture(scope="session")
def gw():
    ep = os.environ.get("NORN_S3_ENDPOINT")
    if ep:
        yield Gateway(ep, None, None)
        return
    s3bin = os.environ.get("NORN_S3_BIN", "norn-s3")
    norn = os.environ.get("NORN_BIN", "norn")
    root = tempfile.mkdtemp(prefix="norn-s3-test-")
    store = os.path.join(root, "store")
    for uid, (ak, sk) in (("alice", ALICE), ("bob", BOB)):
        subprocess.run([norn, "s3", "user", "create", uid, "--access-key", ak, "--secret", sk,
                        "--fs-root", store], check=True, stdout=subprocess.DEVNULL)
    log = open(os.path.join(root, "gateway.log"), "w")
    proc = subprocess.Popen([s3bin, "--s3_fs_root=" + store, "--s3_port=0",
                             "--s3_access_log=" + os.path.join(root, "access.log"),
                             "--s3_idle_timeout_ms=30000"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    line = ""
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line or not line:
            break
    m = re.search(r"listening on ([0-9.]+):(\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError("norn-s3 did not start: %r (see %s)" % (line, root))
    g = Gateway("http://%s:%s" % (m.group(1), m.group(2)), root, proc)
    yield g
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    if os.environ.get("NORN_S3_KEEP") is None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def s3(gw):
    return gw.client()


_n = [0]


@pytest.fixture
def bucket(s3):
    _n[0] += 1
    name = "test-%d-%d" % (os.getpid(), _n[0])
    s3.create_bucket(Bucket=name)
    yield name
    # Empty and delete whatever the test left.
    try:
        for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        pag = s3.get_paginator("list_objects_v2")
        for page in pag.paginate(Bucket=name):
            objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objs:
                s3.delete_objects(Bucket=name, Delete={"Objects": objs})
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass
