#!/usr/bin/env python3
"""st_weight_diff.py A B: the largest relative difference max|a-b|/max|b|
over the layers.*.weight tensors of two safetensors files (F32), printed;
exits 1 if the files do not hold the same such tensors and shapes."""
import json
import struct
import sys


def weights(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name.startswith("layers.") and name.endswith(".weight"):
            lo, hi = t["data_offsets"]
            count = (hi - lo) // 4
            out[name] = (tuple(t["shape"]), struct.unpack("<%df" % count, body[lo:hi]))
    return out


a, b = weights(sys.argv[1]), weights(sys.argv[2])
if not a or a.keys() != b.keys() or any(a[k][0] != b[k][0] for k in a):
    print("the files hold different weight tensors", file=sys.stderr)
    sys.exit(1)
worst = 0.0
for k in sorted(a):
    x, y = a[k][1], b[k][1]
    scale = max(abs(v) for v in y) or 1.0
    worst = max(worst, max(abs(p - q) for p, q in zip(x, y)) / scale)
print("%.3e" % worst)
