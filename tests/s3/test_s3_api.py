"""S3 API semantics through boto3 and raw requests."""
import base64
import concurrent.futures as cf
import datetime
import hashlib
import os
import socket
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ALICE, BOB


def err(ei):
    return ei.value.response["Error"]["Code"]


# --- listing: 10,000 objects ------------------------------------------------
def test_list_10000(gw, s3, bucket):
    keys = ["dir%02d/sub%d/obj%05d" % (i % 20, i % 3, i) for i in range(9000)]
    keys += ["top%04d" % i for i in range(1000)]
    cl = gw.client(max_pool_connections=16)

    def put(k):
        cl.put_object(Bucket=bucket, Key=k, Body=k.encode())

    with cf.ThreadPoolExecutor(12) as ex:
        list(ex.map(put, keys))
    skeys = sorted(keys)
    # v2, no delimiter, pages of 1000.
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        got += [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] <= 1000
    assert got == skeys
    # v1 with marker pagination, pages of 777.
    got = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket,
                                                          PaginationConfig={"PageSize": 777}):
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == skeys
    # Delimiter at the top: 20 common prefixes + 1000 top-level keys.
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir%02d/" % i for i in range(20)]
    assert r["KeyCount"] == 1000 and r["IsTruncated"] is True   # 20 + 1000 > 1000
    allp, allk = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/",
                                                             PaginationConfig={"PageSize": 7}):
        allp += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        allk += [o["Key"] for o in page.get("Contents", [])]
    assert allp == ["dir%02d/" % i for i in range(20)]
    assert allk == ["top%04d" % i for i in range(1000)]
    # Prefix + delimiter, v1 pages of 1 (NextMarker on common prefixes).
    allp = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="dir07/",
                                                          Delimiter="/",
                                                          PaginationConfig={"PageSize": 1}):
        allp += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert allp == ["dir07/sub0/", "dir07/sub1/", "dir07/sub2/"]
    # Prefix only.
    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir03/sub1/")
    want = [k for k in skeys if k.startswith("dir03/sub1/")]
    assert [o["Key"] for o in r["Contents"]] == want
    # start-after, max-keys, fetch-owner.
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="top0995", MaxKeys=3, FetchOwner=True)
    assert [o["Key"] for o in r["Contents"]] == ["top0996", "top0997", "top0998"]
    assert r["IsTruncated"] and r["Contents"][0]["Owner"]["ID"] == "alice"
    r = s3.list_objects_v2(Bucket=bucket, Prefix="top", MaxKeys=2)
    assert "Owner" not in r["Contents"][0]
    r = s3.list_objects(Bucket=bucket, Marker="top0998")
    assert [o["Key"] for o in r["Contents"]] == ["top0999"] and not r["IsTruncated"]


def test_list_encoding_url(gw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a b/c&d.txt", Body=b"1")
    s3.put_object(Bucket=bucket, Key="ünï/x", Body=b"1")
    r = s3.list_objects_v2(Bucket=bucket)   # boto3 asks for url encoding and decodes it
    assert sorted(o["Key"] for o in r["Contents"]) == ["a b/c&d.txt", "ünï/x"]
    raw = s3.list_objects(Bucket=bucket, Delimiter="/", EncodingType="url")
    # An explicit EncodingType leaves decoding to the caller.
    assert sorted(p["Prefix"] for p in raw["CommonPrefixes"]) == ["%C3%BCn%C3%AF/", "a%20b/"]


# --- objects ---------------------------------------------------------------
def test_metadata_round_trip(s3, bucket):
    exp = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="m", Body=b"hello", ContentType="text/x-norn",
                  ContentEncoding="identity", CacheControl="max-age=60", Expires=exp,
                  ContentDisposition='attachment; filename="m.txt"', ContentLanguage="sv",
                  Metadata={"color": "blue", "Mixed-Case": "Value 1"})
    h = s3.head_object(Bucket=bucket, Key="m")
    assert h["ContentType"] == "text/x-norn"
    assert h["ContentEncoding"] == "identity"
    assert h["CacheControl"] == "max-age=60"
    assert h["Expires"] == exp
    assert h["ContentDisposition"] == 'attachment; filename="m.txt"'
    assert h["ContentLanguage"] == "sv"
    assert h["Metadata"] == {"color": "blue", "mixed-case": "Value 1"}
    assert h["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest()
    g = s3.get_object(Bucket=bucket, Key="m", ResponseContentType="application/json",
                      ResponseCacheControl="no-cache")
    assert g["ContentType"] == "application/json" and g["CacheControl"] == "no-cache"


def test_range_and_conditionals(s3, bucket):
    data = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=bucket, Key="r", Body=data)["ETag"]
    g = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert g["Body"].read() == data[10:20] and g["ContentRange"] == "bytes 10-19/%d" % len(data)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10200-")["Body"].read() == data[10200:]
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=999999-")
    assert err(ei) == "InvalidRange"
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert err(ei) == "PreconditionFailed"
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=past)
    assert err(ei) == "PreconditionFailed"
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=future)
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=past)["ContentLength"] == len(data)
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="missing")
    assert err(ei) == "NoSuchKey"


def test_content_md5(gw, s3, bucket):
    body = b"checked body"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="c", Body=body, ContentMD5=md5)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="c2", Body=body, ContentMD5=bad)
    assert err(ei) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="c2")


def test_content_md5_large_concurrent(gw, s3, bucket):
    """Large bodies (several 4 MiB chunks, odd sizes) PUT at the same time,
    so their MD5s are computed together in the gateway's batched hashing
    and their chunks reach the store before the digest is known: every
    ETag is its own body's MD5, a body whose Content-MD5 is wrong fails
    with BadDigest and leaves nothing visible (a new key stays absent, an
    existing key keeps its old bytes), a part upload likewise."""
    sizes = [9 * 2**20 + 13, 13 * 2**20 + 1, 5 * 2**20, 17 * 2**20 - 7, 4 * 2**20 + 64, 3]
    bodies = [os.urandom(n) for n in sizes]
    s3.put_object(Bucket=bucket, Key="big-bad-1", Body=b"old bytes")
    jobs = []
    for i, b in enumerate(bodies):
        good = base64.b64encode(hashlib.md5(b).digest()).decode()
        jobs.append(("big-%d" % i, b, good, None))
        bad = base64.b64encode(hashlib.md5(b + b"x").digest()).decode()
        jobs.append(("big-bad-%d" % i, b, bad, "BadDigest"))
    cli = gw.client(max_pool_connections=len(jobs))

    def put(job):
        key, body, md5, want_err = job
        try:
            r = cli.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=md5)
        except ClientError as e:
            return key, e.response["Error"]["Code"]
        return key, r["ETag"]

    with cf.ThreadPoolExecutor(len(jobs)) as ex:
        results = dict(ex.map(put, jobs))
    for key, body, _, want_err in jobs:
        if want_err:
            assert results[key] == want_err, key
        else:
            assert results[key] == '"%s"' % hashlib.md5(body).hexdigest(), key
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert got == body, key
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"big-%d" % i for i in range(len(bodies))} | {"big-bad-1"}
    assert s3.get_object(Bucket=bucket, Key="big-bad-1")["Body"].read() == b"old bytes"
    # A part with a bad Content-MD5 is refused and not listed.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    bad = base64.b64encode(hashlib.md5(b"nope").digest()).decode()
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=bodies[0],
                       ContentMD5=bad)
    assert err(ei) == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=up).get("Parts", []) == []
    r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=bodies[0])
    assert r["ETag"] == '"%s"' % hashlib.md5(bodies[0]).hexdigest()
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up)


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/a",
                  Metadata={"k": "v"})
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest()
    h = s3.head_object(Bucket=bucket, Key="dst")
    assert h["Metadata"] == {"k": "v"} and h["ContentType"] == "text/a"
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"n": "w"}, ContentType="text/b")
    h = s3.head_object(Bucket=bucket, Key="dst2")
    assert h["Metadata"] == {"n": "w"} and h["ContentType"] == "text/b"
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"copy me"
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="dst3", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfMatch='"nope"')
    assert err(ei) == "PreconditionFailed"
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert err(ei) == "InvalidRequest"
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "nokey"})
    assert err(ei) == "NoSuchKey"


def test_delete_objects_and_tagging(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key="d%d" % i, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d%d" % i} for i in range(6)]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d%d" % i for i in range(6)]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two")
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two")]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "z", "Value": "<&>"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "z", "Value": "<&>"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "storage"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "storage"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_tagging(Bucket=bucket)
    assert err(ei) == "NoSuchTagSet"


# --- multipart --------------------------------------------------------------
def test_multipart_rules(s3, bucket):
    key = "mp"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/mp",
                                    Metadata={"m": "1"})["UploadId"]
    p1 = os.urandom(5 << 20)
    p2 = os.urandom(1 << 20)
    p3 = b"tail"
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=2, Body=p2)["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=3, Body=p3)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 << 20), (2, 1 << 20), (3, 4)]
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in ups] == [up]
    # Part 2 is < 5 MiB and not last: EntityTooSmall.
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2},
                      {"PartNumber": 3, "ETag": e3}]})
    assert err(ei) == "EntityTooSmall"
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}, {"PartNumber": 3, "ETag": e3}]})
    assert err(ei) == "InvalidPart"
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 3, "ETag": e3}, {"PartNumber": 1, "ETag": e1}]})
    assert err(ei) == "InvalidPartOrder"
    # Nothing visible before completion.
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key=key)
    r = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]})
    want = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p3).digest()).hexdigest() + "-2"
    assert r["ETag"] == '"%s"' % want
    g = s3.get_object(Bucket=bucket, Key=key)
    assert g["Body"].read() == p1 + p3 and g["ContentType"] == "text/mp" and g["Metadata"] == {"m": "1"}
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=%d-%d" % ((5 << 20) - 2, (5 << 20) + 1))["Body"].read() == p1[-2:] + p3[:2]
    with pytest.raises(ClientError) as ei:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=up)
    assert err(ei) == "NoSuchUpload"
    # Abort.
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=up2, PartNumber=1, Body=b"zz")
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=up2)
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=up2, PartNumber=2, Body=b"zz")
    assert err(ei) == "NoSuchUpload"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_upload_part_copy(s3, bucket):
    src = os.urandom(6 << 20)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="pc")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange="bytes=0-%d" % ((5 << 20) - 1))
    r2 = s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange="bytes=100-199")
    s3.complete_multipart_upload(Bucket=bucket, Key="pc", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="pc")["Body"].read() == src[:5 << 20] + src[100:200]


def test_bucket_not_empty_with_upload(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=bucket)
    assert err(ei) == "BucketNotEmpty"
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=up)


# --- auth -------------------------------------------------------------------
def test_bad_signature_wrong_key_other_user(gw, bucket, s3):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    bad = gw.client((ALICE[0], "wrong-secret"))
    with pytest.raises(ClientError) as ei:
        bad.list_objects_v2(Bucket=bucket)
    assert err(ei) == "SignatureDoesNotMatch"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    nokey = gw.client(("NKNOSUCHKEY000000000", "x"))
    with pytest.raises(ClientError) as ei:
        nokey.list_buckets()
    assert err(ei) == "InvalidAccessKeyId"
    bob = gw.client(BOB)
    for call in (lambda: bob.list_objects_v2(Bucket=bucket),
                 lambda: bob.get_object(Bucket=bucket, Key="private"),
                 lambda: bob.put_object(Bucket=bucket, Key="x", Body=b"x"),
                 lambda: bob.delete_object(Bucket=bucket, Key="private"),
                 lambda: bob.delete_bucket(Bucket=bucket)):
        with pytest.raises(ClientError) as ei:
            call()
        assert err(ei) == "AccessDenied"
    assert bucket not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    # Anonymous: refused, unless public-read.
    r = requests.get("%s/%s/private" % (gw.endpoint, bucket))
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    r = requests.get("%s/%s/pub" % (gw.endpoint, bucket))
    assert r.status_code == 200 and r.content == b"public"
    assert bob.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"public"
    assert requests.get("%s/%s" % (gw.endpoint, bucket)).status_code == 403
    acl = s3.get_object_acl(Bucket=bucket, Key="pub")
    assert any(g["Permission"] == "READ" for g in acl["Grants"])


def test_clock_skew(gw, bucket):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import unittest.mock as um
    url = "%s/%s" % (gw.endpoint, bucket)
    req = AWSRequest(method="GET", url=url)
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    with um.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = old
        dt.datetime.strptime = datetime.datetime.strptime
        S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(req)
    r = requests.get(url, headers=dict(req.headers))
    assert r.status_code == 403 and b"RequestTimeTooSkewed" in r.content


def test_presigned(gw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=300)
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"presigned body"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                    ExpiresIn=300)
    r = requests.put(put, data=b"uploaded via presigned PUT")
    assert r.status_code == 200, r.content
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded via presigned PUT"
    tampered = url.replace("Key=p", "Key=q").replace("/p?", "/q?")
    assert requests.get(tampered).status_code == 403
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                      ExpiresIn=1)
    time.sleep(2.2)
    r = requests.get(short)
    assert r.status_code == 403 and b"expired" in r.content


# --- protocol ----------------------------------------------------------------
def test_not_implemented_and_errors(gw, s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_policy(Bucket=bucket)
    assert err(ei) == "NotImplemented"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket="Bad_Name")
    assert err(ei) == "InvalidBucketName"
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket="no-such-bucket-xyz")
    assert err(ei) == "NoSuchBucket"
    r = requests.post("%s/%s?delete" % (gw.endpoint, bucket), data=b"<not xml")
    assert r.status_code == 403   # anonymous first
    # XXE attempt is MalformedXML, never expanded.
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Delete><Object><Key>&x;</Key></Object></Delete>')
    url = "%s/%s?delete" % (gw.endpoint, bucket)
    req = AWSRequest(method="POST", url=url, data=body,
                     headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    S3SigV4Auth(Credentials(*ALICE), "s3", "us-east-1").add_auth(req)
    r = requests.post(url, data=body, headers=dict(req.headers))
    assert r.status_code == 400 and b"MalformedXML" in r.content
    assert b"root:" not in r.content


def test_pipelining_and_keepalive(gw, s3, bucket):
    s3.put_object(Bucket=bucket, Key="pub1", Body=b"one", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="pub2", Body=b"two!", ACL="public-read")
    s = socket.create_connection(("127.0.0.1", gw.port))
    req = ("GET /%s/pub1 HTTP/1.1\r\nHost: x\r\n\r\nGET /%s/pub2 HTTP/1.1\r\nHost: x\r\n\r\n"
           "HEAD /%s/pub1 HTTP/1.1\r\nHost: x\r\n\r\n" % (bucket, bucket, bucket)).encode()
    s.sendall(req)
    buf = b""
    s.settimeout(5)
    while buf.count(b"HTTP/1.1 200") < 3 or not buf.endswith(b"\r\n\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        if buf.count(b"HTTP/1.1 200") == 3 and b"two!" in buf:
            break
    assert buf.count(b"HTTP/1.1 200 OK") == 3
    assert buf.index(b"one") < buf.index(b"two!")
    s.close()
    # Oversized headers: 431 and close, no crash.
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 << 10) + b"\r\n\r\n")
    s.settimeout(5)
    resp = s.recv(65536)
    assert resp.startswith(b"HTTP/1.1 431") or resp.startswith(b"HTTP/1.1 400")
    s.close()
    # Garbage: 400.
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"\x00\x01GARBAGE\r\n\r\n")
    s.settimeout(5)
    assert s.recv(65536).startswith(b"HTTP/1.1 400")
    s.close()
    # The gateway is still fine.
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_many_idle_connections(gw, s3):
    socks = []
    for _ in range(1000):
        socks.append(socket.create_connection(("127.0.0.1", gw.port)))
    time.sleep(0.5)
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    if gw.proc:
        with open("/proc/%d/status" % gw.proc.pid) as f:
            rss = [l for l in f if l.startswith("VmRSS")][0]
        rss_kb = int(rss.split()[1])
        print("gateway RSS with 1000 idle connections: %d KiB" % rss_kb)
        assert rss_kb < 256 * 1024
    for s in socks:
        s.close()


def test_sigv2_default_presign_and_header(gw, s3, bucket):
    """boto3 of this vintage presigns S3 URLs with SigV2 by default; old
    clients sign headers with SigV2. Both work; tampering does not."""
    s3.put_object(Bucket=bucket, Key="v2 obj", Body=b"legacy")
    plain = boto3.client("s3", endpoint_url=gw.endpoint, aws_access_key_id=ALICE[0],
                         aws_secret_access_key=ALICE[1], region_name="us-east-1",
                         config=Config(s3={"addressing_style": "path"}))
    url = plain.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 obj"},
                                       ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"legacy"
    assert requests.get(url.replace("Expires=", "Expires=1")).status_code == 403
    put = plain.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v2put"},
                                       ExpiresIn=60)
    assert requests.put(put, data=b"via v2").status_code == 200
    v2 = boto3.client("s3", endpoint_url=gw.endpoint, aws_access_key_id=ALICE[0],
                      aws_secret_access_key=ALICE[1], region_name="us-east-1",
                      config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    assert v2.get_object(Bucket=bucket, Key="v2put")["Body"].read() == b"via v2"
    v2.put_object(Bucket=bucket, Key="v2hdr", Body=b"h", Metadata={"x": "y"})
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="v2h")["Contents"]] == ["v2hdr"]
    bad = boto3.client("s3", endpoint_url=gw.endpoint, aws_access_key_id=ALICE[0],
                       aws_secret_access_key="nope", region_name="us-east-1",
                       config=Config(signature_version="s3", s3={"addressing_style": "path"}))
    with pytest.raises(ClientError) as ei:
        bad.list_objects(Bucket=bucket)
    assert err(ei) == "SignatureDoesNotMatch"
