"""Fixtures for the S3 gateway tests: start norn-s3 on 127.0.0.1 with two
users (alice, bob) whose keys are fixed. NORN_S3_BIN and NORN_BIN name the
gateway and the CLI (set by run_pytest.sh). NORN_S3_MODE picks the store:

  fs       the fs DEVELOPMENT backend in a temporary directory (default)
  fake     the cluster backend (s3_backend_norn.c) over the libnorn test
           double tests/s3/fake_norn.c (a directory): the backend's logic
           without a cluster
  cluster  the cluster backend on a real cluster: tests/lib/cluster.py
           starts mons + OSDs (build dir NORN_BUILD_DIR), pool "s3"

NORN_S3_ENDPOINT, if set, targets a running gateway instead."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ALICE = ("NKALICEKEY0000000001", "alice-secret-key-0000000000000000000000001")
BOB = ("NKBOBKEY000000000002", "bob-secret-key-00000000000000000000000000002")
MODE = os.environ.get("NORN_S3_MODE", "fs")
HERE = os.path.dirname(os.path.abspath(__file__))


class Gateway:
    def __init__(self, endpoint, root, proc, cli_args=(), env=None, cluster=None, gw_args=()):
        self.endpoint = endpoint
        self.root = root
        self.proc = proc
        self.port = int(endpoint.rsplit(":", 1)[1])
        self.cli_args = list(cli_args)     # how the CLI reaches the user store
        self.env = env                     # environment for CLI runs
        self.cluster = cluster             # tests/lib/cluster.py Cluster (cluster mode)
        self.gw_args = list(gw_args)       # norn-s3 options selecting the same store

    def client(self, keys=ALICE, **cfg):
        c = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                   signature_version="s3v4", **cfg)
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=keys[0],
                            aws_secret_access_key=keys[1], region_name="us-east-1", config=c)

    def resource(self, keys=ALICE):
        return boto3.resource("s3", endpoint_url=self.endpoint, aws_access_key_id=keys[0],
                              aws_secret_access_key=keys[1], region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}))

    def cli(self, *args):
        """Run `norn [store args] ARGS` (a CompletedProcess, text)."""
        norn = os.environ.get("NORN_BIN", "norn")
        # -c CONF goes before the command word, --fs-root after it.
        if self.cli_args and self.cli_args[0] == "--fs-root":
            cmd = [norn] + list(args) + self.cli_args
        else:
            cmd = [norn] + self.cli_args + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=120)


def _start_gateway(s3bin, args, root, env):
    log = open(os.path.join(root, "gateway.log"), "w")
    proc = subprocess.Popen([s3bin, "--s3_port=0",
                             "--s3_access_log=" + os.path.join(root, "access.log"),
                             "--s3_idle_timeout_ms=30000"] + args,
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = ""
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line or not line:
            break
    m = re.search(r"listening on ([0-9.]+):(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        log.close()
        raise RuntimeError("norn-s3 did not start: %r (see %s)" % (line, root))
    return proc, log, "http://%s:%s" % (m.group(1), m.group(2))


GW_ENTITY = "client.s3"
GW_CAPS = ("mon", "allow r", "osd", "allow rw pool=s3")


def make_gateway_key(cluster, root):
    """Create the gateway's entity with GW_CAPS; return its keyring file."""
    rc, out, err = cluster.cli("auth", "add", GW_ENTITY, *GW_CAPS)
    assert rc == 0, err
    key = cluster.cli_json("auth", "get", GW_ENTITY)["key"]
    path = os.path.join(root, "s3.keyring")
    with open(path, "w") as f:
        f.write("[%s]\nkey = %s\n" % (GW_ENTITY, key))
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="session")
def gw():
    ep = os.environ.get("NORN_S3_ENDPOINT")
    if ep:
        yield Gateway(ep, None, None)
        return
    s3bin = os.environ.get("NORN_S3_BIN", "norn-s3")
    root = tempfile.mkdtemp(prefix="norn-s3-test-")
    env = dict(os.environ)
    cluster = None
    if MODE == "fs":
        cli_args = ["--fs-root", os.path.join(root, "store")]
        gw_args = ["--s3_backend=fs", "--s3_fs_root=" + os.path.join(root, "store")]
    elif MODE == "fake":
        env["NORN_FAKE_ROOT"] = os.path.join(root, "fake")
        os.makedirs(os.path.join(root, "fake", "s3"))
        conf = os.path.join(root, "norn.conf")
        open(conf, "w").close()
        cli_args = ["-c", conf]
        gw_args = ["-c", conf, "--s3_backend=norn", "--s3_gc_delay_ms=0", "--s3_gc_interval_ms=200"]
    elif MODE == "cluster":
        sys.path.insert(0, os.path.join(HERE, "..", "lib"))
        from cluster import Cluster
        cluster = Cluster(os.environ.get("NORN_BUILD_DIR"), mons=1,
                          osds=int(os.environ.get("NORN_S3_OSDS", "3")),
                          dir=os.path.join(root, "cluster"))
        cluster.create_pool("s3", pg_num=16, size=2, min_size=1)
        # The gateway runs as its own entity with only the caps it needs
        # (read the maps, read/write pool s3); the CLI stays client.admin.
        keyring = make_gateway_key(cluster, root)
        cli_args = ["-c", cluster.conf]
        gw_args = ["-c", cluster.conf, "--s3_backend=norn", "--s3_client_name=" + GW_ENTITY,
                   "--keyring=" + keyring, "--s3_gc_delay_ms=0", "--s3_gc_interval_ms=500"]
    else:
        raise RuntimeError("NORN_S3_MODE must be fs, fake or cluster")
    g = Gateway("http://127.0.0.1:1", root, None, cli_args, env, cluster, gw_args)
    for uid, (ak, sk) in (("alice", ALICE), ("bob", BOB)):
        p = g.cli("s3", "user", "create", uid, "--access-key", ak, "--secret", sk)
        assert p.returncode == 0, p.stderr
    proc, log, endpoint = _start_gateway(s3bin, gw_args, root, env)
    g.endpoint = endpoint
    g.port = int(endpoint.rsplit(":", 1)[1])
    g.proc = proc
    yield g
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    if cluster is not None:
        cluster.stop()
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
