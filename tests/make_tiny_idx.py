#!/usr/bin/env python3
"""Writes a tiny learnable IDX data set for the CLI tests:
make_tiny_idx.py DIR [TRAIN_COUNT] [TEST_COUNT]

8x8 images over ten classes, each class a bright stripe at its own place
over noise; the training split is raw, the test split gzipped, so both
reader paths are used."""
import gzip
import os
import random
import struct
import sys


def write(out, prefix, n, opener, rng):
    labels = [rng.randrange(10) for _ in range(n)]
    images = bytearray()
    for c in labels:
        px = [rng.randrange(64) for _ in range(64)]
        for k in range(6):
            px[(c * 6 + k) % 64] = 200 + rng.randrange(56)
        images += bytes(px)
    with opener(os.path.join(out, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + images)
    with opener(os.path.join(out, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))


def main():
    out = sys.argv[1]
    train = int(sys.argv[2]) if len(sys.argv) > 2 else 320
    test = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1)
    write(out, "train", train, open, rng)
    write(out, "t10k", test, lambda p, m: gzip.open(p + ".gz", m), rng)


if __name__ == "__main__":
    main()
