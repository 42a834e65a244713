#!/usr/bin/env python3
"""Writes a tiny learnable data set in one of the published layouts, byte
for byte, for the tests (no CIFAR files can be downloaded here):

  make_tiny_data.py DIR cifar10  [PER_BATCH] [TEST]   data_batch_1..5.bin, test_batch.bin
  make_tiny_data.py DIR cifar100 [TRAIN] [TEST]       train.bin, test.bin
  make_tiny_data.py DIR tensors  [TRAIN] [TEST]       train/test.safetensors, x U8 [n,8,8,3], y I64
  make_tiny_data.py DIR tensors-f32 [TRAIN] [TEST]    x F32 [n,48] in [0,1], y U16
  make_tiny_data.py DIR idx4 [TRAIN] [TEST]           IDX images of rank 4 [n,3,4,4], 12 classes

Each class brightens its own random half of the values, under noise, so a few training
steps beat chance. CIFAR-100 records carry coarse = fine // 5, as in the
real set (five fine classes to each of the 20 superclasses)."""
import json
import os
import random
import struct
import sys


def sample(rng, c, classes, size):
    # Class c: its own fixed random half of the values bright, under noise.
    mask = random.Random(1000 + c).getrandbits(size)
    return bytes(160 + rng.randrange(96) if mask >> i & 1 else rng.randrange(96) for i in range(size))


def cifar(path, n, classes, rng, coarse_too):
    with open(path, "wb") as f:
        for _ in range(n):
            c = rng.randrange(classes)
            head = bytes([c // 5, c]) if coarse_too else bytes([c])
            f.write(head + sample(rng, c, classes, 3072))


def safetensors(path, tensors):
    """tensors: name -> (dtype, shape, raw little-endian bytes)."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def tensors(path, n, rng, f32):
    classes = 10
    ys = [rng.randrange(classes) for _ in range(n)]
    if f32:
        x = b"".join(struct.pack("<48f", *[v / 255 for v in sample(rng, c, classes, 48)]) for c in ys)
        safetensors(path, {"x": ("F32", [n, 48], x), "y": ("U16", [n], struct.pack(f"<{n}H", *ys))})
    else:
        x = b"".join(sample(rng, c, classes, 192) for c in ys)
        safetensors(path, {"y": ("I64", [n], struct.pack(f"<{n}q", *ys)), "x": ("U8", [n, 8, 8, 3], x)})


def idx4(out, prefix, n, rng):
    classes = 12
    ys = [rng.randrange(classes) for _ in range(n)]
    with open(os.path.join(out, prefix + "-images-idx4-ubyte"), "wb") as f:
        f.write(struct.pack(">IIIII", 0x804, n, 3, 4, 4) + b"".join(sample(rng, c, classes, 48) for c in ys))
    with open(os.path.join(out, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(ys))


def main():
    out, kind = sys.argv[1], sys.argv[2]
    a = int(sys.argv[3]) if len(sys.argv) > 3 else None
    b = int(sys.argv[4]) if len(sys.argv) > 4 else None
    os.makedirs(out, exist_ok=True)
    rng = random.Random(2)
    if kind == "cifar10":
        for i in range(1, 6):
            cifar(os.path.join(out, f"data_batch_{i}.bin"), a or 64, 10, rng, False)
        cifar(os.path.join(out, "test_batch.bin"), b or 100, 10, rng, False)
    elif kind == "cifar100":
        cifar(os.path.join(out, "train.bin"), a or 1000, 100, rng, True)
        cifar(os.path.join(out, "test.bin"), b or 200, 100, rng, True)
    elif kind in ("tensors", "tensors-f32"):
        tensors(os.path.join(out, "train.safetensors"), a or 320, rng, kind == "tensors-f32")
        tensors(os.path.join(out, "test.safetensors"), b or 64, rng, kind == "tensors-f32")
    elif kind == "idx4":
        idx4(out, "train", a or 320, rng)
        idx4(out, "t10k", b or 64, rng)
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
