"""The four everyday boto3 scripts from the issue, unchanged except for the
endpoint and keys, plus big-file transfer through upload_file/download_file."""
import datetime
import hashlib
import logging
import os
import sys
import threading

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, NoCredentialsError

from conftest import ALICE


# --- script 1: list all buckets with their creation dates -------------------
def test_list_buckets_with_creation_dates(gw, s3):
    s3.create_bucket(Bucket="everyday-list")
    response = s3.list_buckets()
    names = []
    for b in response["Buckets"]:
        print(f'  {b["Name"]}  created {b["CreationDate"]}')
        names.append(b["Name"])
        assert isinstance(b["CreationDate"], datetime.datetime)
    assert "everyday-list" in names
    created = [b for b in response["Buckets"] if b["Name"] == "everyday-list"][0]["CreationDate"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created).total_seconds()) < 120
    s3.delete_bucket(Bucket="everyday-list")


# --- script 2: upload a file with error handling ----------------------------
def upload_file(s3_client, file_name, bucket, object_name=None):
    if object_name is None:
        object_name = os.path.basename(file_name)
    try:
        s3_client.upload_file(file_name, bucket, object_name)
    except FileNotFoundError:
        logging.error("The file was not found")
        return "missing"
    except NoCredentialsError:
        logging.error("Credentials not available")
        return "nocreds"
    except ClientError as e:
        logging.error(e)
        return e.response["Error"]["Code"]
    return True


def test_upload_file_with_error_handling(gw, s3, bucket, tmp_path):
    f = tmp_path / "report.csv"
    f.write_bytes(b"a,b,c\n1,2,3\n")
    assert upload_file(s3, str(f), bucket) is True
    assert s3.get_object(Bucket=bucket, Key="report.csv")["Body"].read() == b"a,b,c\n1,2,3\n"
    assert upload_file(s3, str(tmp_path / "nope.csv"), bucket) == "missing"
    # boto3 of this vintage wraps a ClientError from upload_file in
    # S3UploadFailedError; either way the missing bucket must surface.
    from boto3.exceptions import S3UploadFailedError
    try:
        r = upload_file(s3, str(f), "no-such-bucket-here")
        assert r == "NoSuchBucket"
    except S3UploadFailedError as e:
        assert "NoSuchBucket" in str(e)
    # A client with no credentials at all.
    anon = boto3.client("s3", endpoint_url=gw.endpoint, region_name="us-east-1",
                        aws_access_key_id=None, aws_secret_access_key=None)
    os.environ.pop("AWS_ACCESS_KEY_ID", None)
    os.environ.pop("AWS_SECRET_ACCESS_KEY", None)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    os.environ["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    sess = boto3.session.Session()
    anon = sess.client("s3", endpoint_url=gw.endpoint, region_name="us-east-1")
    assert upload_file(anon, str(f), bucket) == "nocreds"


# --- script 3: download a large file with a progress callback ----------------
class ProgressPercentage:
    def __init__(self, size):
        self._size = size
        self._seen_so_far = 0
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, bytes_amount):
        with self._lock:
            self._seen_so_far += bytes_amount
            self.calls += 1
            pct = (self._seen_so_far / self._size) * 100
            sys.stdout.write("\r  %s / %s  (%.2f%%)" % (self._seen_so_far, self._size, pct))
            sys.stdout.flush()


def test_download_with_progress(gw, s3, bucket, tmp_path):
    data = os.urandom(24 << 20)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    size = s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"]
    assert size == len(data)
    prog = ProgressPercentage(size)
    out = tmp_path / "big.bin"
    s3.download_file(bucket, "big.bin", str(out), Callback=prog)
    assert prog._seen_so_far == size and prog.calls > 1
    assert out.read_bytes() == data


# --- script 4: create with LocationConstraint, delete; BucketNotEmpty --------
def test_create_with_location_and_delete(gw, s3):
    name = "everyday-eu"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    s3.put_object(Bucket=name, Key="keep.txt", Body=b"x")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=name)
    assert ei.value.response["Error"]["Code"] == "BucketNotEmpty"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket=name, Key="keep.txt")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert ei.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
    # Creating twice: BucketAlreadyOwnedByYou; someone else's: BucketAlreadyExists.
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert ei.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    from conftest import BOB
    with pytest.raises(ClientError) as ei:
        gw.client(BOB).create_bucket(Bucket=name)
    assert ei.value.response["Error"]["Code"] == "BucketAlreadyExists"
    s3.delete_bucket(Bucket=name)


# --- upload_file / download_file of a 200 MiB file ---------------------------
def test_upload_download_200mib(gw, s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(200):
            chunk = block[i:] + block[:i]
            h.update(chunk)
            f.write(chunk)
    cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=16 << 20,
                         max_concurrency=4, use_threads=True)
    s3.upload_file(str(src), bucket, "big/200mib.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big/200mib.bin")
    assert head["ContentLength"] == 200 << 20
    assert head["ETag"].strip('"').endswith("-13")   # 12 x 16 MiB + 8 MiB
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "big/200mib.bin", str(dst), Config=cfg)
    h2 = hashlib.sha256()
    with open(dst, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h2.update(chunk)
    assert h2.hexdigest() == h.hexdigest()
