"""The gateway over HTTPS (s3_tls_cert/s3_tls_key): a second norn-s3 on
the same store with a throw-away self-signed certificate; boto3 verifies
it against that certificate."""
import os
import re
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import ALICE


@pytest.fixture(scope="module")
def tls_gw(gw, tmp_path_factory):
    if not gw.root:
        pytest.skip("external gateway")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    proc = subprocess.Popen([os.environ.get("NORN_S3_BIN", "norn-s3")] + gw.gw_args + [
                             "--s3_port=0",
                             "--s3_tls_cert=" + cert, "--s3_tls_key=" + key],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=gw.env)
    line = proc.stdout.readline()
    m = re.search(r"listening on ([0-9.]+):(\d+) \(TLS\)", line)
    assert m, line
    yield "https://127.0.0.1:%s" % m.group(2), cert
    proc.terminate()
    proc.wait(timeout=10)


def test_https_round_trip(tls_gw, tmp_path):
    ep, cert = tls_gw
    s3 = boto3.client("s3", endpoint_url=ep, verify=cert, aws_access_key_id=ALICE[0],
                      aws_secret_access_key=ALICE[1], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    s3.create_bucket(Bucket="tls-bucket")
    data = os.urandom(3 << 20) + b"end"
    s3.put_object(Bucket="tls-bucket", Key="k", Body=data)
    assert s3.get_object(Bucket="tls-bucket", Key="k")["Body"].read() == data
    src = tmp_path / "f"
    src.write_bytes(os.urandom(20 << 20))
    from boto3.s3.transfer import TransferConfig
    s3.upload_file(str(src), "tls-bucket", "f", Config=TransferConfig(multipart_threshold=8 << 20,
                                                                      max_concurrency=2))
    s3.download_file("tls-bucket", "f", str(tmp_path / "g"))
    assert (tmp_path / "g").read_bytes() == src.read_bytes()
    for k in ("k", "f"):
        s3.delete_object(Bucket="tls-bucket", Key=k)
    s3.delete_bucket(Bucket="tls-bucket")
    # Plain HTTP to the TLS port is refused without harming the server.
    import requests
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(ep.replace("https", "http"), timeout=5)
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
