"""S3 gateway benchmark: PUT and GET of 4 KiB objects (objects/s) and of
64 MiB objects (MB/s) with N concurrent boto3 clients, plus MD5 and
SHA-256 throughput of this CPU (one core) measured in the same run.

  s3_bench.py ENDPOINT ACCESS_KEY SECRET [--clients 16] [--seconds 5]
              [--big-count 8]

The client is Python (boto3), which on a 2-core box competes with the
gateway for CPU: small-object figures are a floor for the gateway."""
import argparse
import concurrent.futures as cf
import hashlib
import os
import threading
import time

import boto3
from botocore.config import Config


def hash_rates():
    buf = os.urandom(64 << 20)
    out = {}
    for name in ("md5", "sha256"):
        t = time.perf_counter()
        hashlib.new(name, buf).digest()
        out[name] = len(buf) / (time.perf_counter() - t) / 1e6
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("ak")
    ap.add_argument("sk")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--big-count", type=int, default=8)
    a = ap.parse_args()
    cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=a.clients * 2,
                 signature_version="s3v4", retries={"max_attempts": 1})
    s3 = boto3.client("s3", endpoint_url=a.endpoint, aws_access_key_id=a.ak,
                      aws_secret_access_key=a.sk, region_name="us-east-1", config=cfg)
    bucket = "bench-%d" % os.getpid()
    s3.create_bucket(Bucket=bucket)
    small = os.urandom(4096)

    def timed_loop(fn):
        stop = time.time() + a.seconds
        counts = [0] * a.clients

        def worker(i):
            n = 0
            while time.time() < stop:
                fn(i, n)
                n += 1
            counts[i] = n

        t = time.perf_counter()
        with cf.ThreadPoolExecutor(a.clients) as ex:
            list(ex.map(worker, range(a.clients)))
        return sum(counts), time.perf_counter() - t, counts

    n, dt, counts = timed_loop(lambda i, n: s3.put_object(Bucket=bucket, Key="s/%d/%d" % (i, n), Body=small))
    put4k = n / dt
    lock = threading.Lock()
    n, dt, _ = timed_loop(lambda i, n: s3.get_object(Bucket=bucket, Key="s/%d/%d" % (i, n % max(1, counts[i])))["Body"].read())
    get4k = n / dt

    big = os.urandom(64 << 20)
    from boto3.s3.transfer import TransferConfig
    tc = TransferConfig(multipart_threshold=1 << 40)   # one PUT per object

    def put_big(i):
        s3.put_object(Bucket=bucket, Key="big/%d" % i, Body=big)

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(min(a.clients, a.big_count)) as ex:
        list(ex.map(put_big, range(a.big_count)))
    put64 = a.big_count * len(big) / (time.perf_counter() - t) / 1e6

    def get_big(i):
        body = s3.get_object(Bucket=bucket, Key="big/%d" % i)["Body"]
        n = 0
        for chunk in iter(lambda: body.read(1 << 20), b""):
            n += len(chunk)
        assert n == len(big)

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(min(a.clients, a.big_count)) as ex:
        list(ex.map(get_big, range(a.big_count)))
    get64 = a.big_count * len(big) / (time.perf_counter() - t) / 1e6
    h = hash_rates()
    print("| test | result |")
    print("|---|---|")
    print("| 4 KiB PUT, %d clients | %.0f objects/s |" % (a.clients, put4k))
    print("| 4 KiB GET, %d clients | %.0f objects/s |" % (a.clients, get4k))
    print("| 64 MiB PUT, %d clients | %.0f MB/s |" % (min(a.clients, a.big_count), put64))
    print("| 64 MiB GET, %d clients | %.0f MB/s |" % (min(a.clients, a.big_count), get64))
    print("| MD5, one core | %.0f MB/s |" % h["md5"])
    print("| SHA-256, one core | %.0f MB/s |" % h["sha256"])


if __name__ == "__main__":
    main()
