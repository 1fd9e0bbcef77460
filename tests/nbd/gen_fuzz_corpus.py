#!/usr/bin/python3
"""Write the seed corpus of fuzz_nbd_proto (tests/fuzz/corpus/fuzz_nbd_proto).

Byte 0 selects the fuzzer's mode (see tests/nbd/fuzz_nbd_proto.c):
0 negotiation stream, 1 requests, 2 single payload, 3 client-side replies.
Run from anywhere; rewrites the seed files (named seed-*) deterministically.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "fuzz_nbd_proto")
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513


def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data


def go_payload(name, infos=()):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) + b"".join(struct.pack(">H", i) for i in infos)


def req(typ, off, length, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, cookie, off, length) + payload


def limits(size, min_shift=0, max_shift=0, tflags=0x16D):
    return struct.pack(">QBBBH", size, 0, min_shift, max_shift, tflags) + b"\0" * 3


seeds = {
    "neg-go": b"\0" + struct.pack(">I", 3) + opt(7, go_payload("pool/vol", (3, 1, 2))),
    "neg-info-list-abort": b"\0" + struct.pack(">I", 1) + opt(6, go_payload("pool/vol@snap", (3,)))
    + opt(3) + opt(8) + opt(2),
    "neg-export-name": b"\0" + struct.pack(">I", 2) + opt(1, b"pool/vol"),
    "neg-empty-name": b"\0" + struct.pack(">I", 3) + opt(7, go_payload("")),
    "neg-bad-len": b"\0" + struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, 7, 5) + struct.pack(">I", 0xFFFF) + b"x",
    "req-mix": b"\1" + limits(1 << 30) + req(0, 0, 4096) + req(1, 4096, 16, 1) + req(3, 0, 0)
    + req(4, 8192, 65536) + req(6, 0, 1 << 20, 2) + req(2, 0, 0),
    "req-edges": b"\1" + limits(1 << 20, 9, 4) + req(0, (1 << 20) - 512, 512) + req(1, (1 << 20) - 1, 2)
    + req(0, 2**64 - 1, 1) + req(1, 0, 0xFFFFFFFF) + req(7, 0, 1) + req(0, 0, 0, flags=4),
    "req-ro": b"\1" + limits(1 << 24, 0, 0, 0x103) + req(1, 0, 512) + req(4, 0, 512) + req(6, 0, 512),
    "payload-go": b"\2" + go_payload("a" * 100, (0, 1, 2, 3, 99)),
    "reply": b"\3" + struct.pack(">QIII", 0x3E889045565A9, 7, 1, 0) + struct.pack(">IIQ", 0x67446698, 22, 5),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, "seed-" + name), "wb") as f:
        f.write(data)
print("wrote %d seeds to %s" % (len(seeds), os.path.normpath(OUT)))
