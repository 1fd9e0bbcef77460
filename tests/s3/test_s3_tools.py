"""Smoke runs of the Debian S3 tools against the gateway: awscli
(cp/sync/ls/rm), s3cmd and rclone. Each is configured only through
environment variables and temporary config files pointing at 127.0.0.1."""
import os
import shutil
import subprocess

import pytest

from conftest import ALICE


def run(cmd, env, cwd=None, timeout=120):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (cmd, p.returncode, p.stdout, p.stderr))
    return p.stdout


def make_tree(root):
    os.makedirs(os.path.join(root, "sub", "deeper"), exist_ok=True)
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(70000),
             "sub/deeper/c.txt": b"charlie\n", "big.bin": os.urandom(9 << 20)}
    for k, v in files.items():
        with open(os.path.join(root, k), "wb") as f:
            f.write(v)
    return files


def base_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"HOME": str(tmp_path), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    return env


@pytest.mark.skipif(not os.path.exists("/usr/bin/aws"), reason="awscli not installed")
def test_awscli(gw, s3, bucket, tmp_path):
    env = base_env(tmp_path)
    env.update({"AWS_ACCESS_KEY_ID": ALICE[0], "AWS_SECRET_ACCESS_KEY": ALICE[1],
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "cfg"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""})
    (tmp_path / "cfg").write_text("[default]\ns3 =\n  addressing_style = path\n")
    aws = ["/usr/bin/aws", "--endpoint-url", gw.endpoint]
    src = tmp_path / "src"
    files = make_tree(str(src))
    run(aws + ["s3", "cp", str(src / "a.txt"), "s3://%s/cp/a.txt" % bucket], env)
    run(aws + ["s3", "sync", str(src), "s3://%s/sync" % bucket], env)
    out = run(aws + ["s3", "ls", "--recursive", "s3://%s/" % bucket], env)
    for k in files:
        assert "sync/" + k in out
    assert "cp/a.txt" in out
    assert bucket in run(aws + ["s3", "ls"], env)
    dst = tmp_path / "dst"
    run(aws + ["s3", "sync", "s3://%s/sync" % bucket, str(dst)], env)
    for k, v in files.items():
        assert (dst / k).read_bytes() == v
    # A second sync uploads nothing.
    out = run(aws + ["s3", "sync", str(src), "s3://%s/sync" % bucket], env)
    assert "upload:" not in out
    run(aws + ["s3", "rm", "--recursive", "s3://%s/sync" % bucket], env)
    run(aws + ["s3", "rm", "s3://%s/cp/a.txt" % bucket], env)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.skipif(not shutil.which("s3cmd"), reason="s3cmd not installed")
def test_s3cmd(gw, s3, bucket, tmp_path):
    env = base_env(tmp_path)
    host = gw.endpoint.split("//", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\n"
                   "host_bucket = %s\nuse_https = False\nsignature_v2 = False\n"
                   "bucket_location = us-east-1\ncheck_ssl_certificate = False\n"
                   "multipart_chunk_size_mb = 5\n" % (ALICE[0], ALICE[1], host, host))
    s3c = ["s3cmd", "-c", str(cfg)]
    src = tmp_path / "src"
    files = make_tree(str(src))
    run(s3c + ["put", str(src / "a.txt"), "s3://%s/s3cmd/a.txt" % bucket], env)
    run(s3c + ["put", str(src / "big.bin"), "s3://%s/s3cmd/big.bin" % bucket], env)
    out = run(s3c + ["ls", "s3://%s/s3cmd/" % bucket], env)
    assert "s3cmd/a.txt" in out and "s3cmd/big.bin" in out
    run(s3c + ["get", "s3://%s/s3cmd/big.bin" % bucket, str(tmp_path / "big.out")], env)
    assert (tmp_path / "big.out").read_bytes() == files["big.bin"]
    run(s3c + ["sync", str(src) + "/", "s3://%s/s3sync/" % bucket], env)
    assert s3.get_object(Bucket=bucket, Key="s3sync/sub/deeper/c.txt")["Body"].read() == b"charlie\n"
    run(s3c + ["del", "--recursive", "--force", "s3://%s/" % bucket], env)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    run(s3c + ["mb", "s3://s3cmd-made-%d" % os.getpid()], env)
    assert "s3cmd-made" in run(s3c + ["ls"], env)
    run(s3c + ["rb", "s3://s3cmd-made-%d" % os.getpid()], env)


@pytest.mark.skipif(not shutil.which("rclone"), reason="rclone not installed")
def test_rclone(gw, s3, bucket, tmp_path):
    env = base_env(tmp_path)
    cfg = tmp_path / "rclone.conf"
    cfg.write_text("[norn]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                   "secret_access_key = %s\nendpoint = %s\nregion = us-east-1\n"
                   "force_path_style = true\n" % (ALICE[0], ALICE[1], gw.endpoint))
    rc = ["rclone", "--config", str(cfg), "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    src = tmp_path / "src"
    files = make_tree(str(src))
    run(rc + ["copy", str(src), "norn:%s/rc" % bucket], env)
    out = run(rc + ["ls", "norn:%s/rc" % bucket], env)
    for k in files:
        assert k in out
    run(rc + ["check", str(src), "norn:%s/rc" % bucket], env)
    dst = tmp_path / "dst"
    run(rc + ["copy", "norn:%s/rc" % bucket, str(dst)], env)
    for k, v in files.items():
        assert (dst / k).read_bytes() == v
    run(rc + ["delete", "norn:%s/rc" % bucket], env)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
