#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses into tests/fuzz/corpus/.

Small valid inputs (and a few near misses) that the fuzzers start from and
the fuzz_replay test replays. Run it again after changing a harness's input
format; the files are committed, so nothing else needs Python."""
import gzip
import json
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def save(harness, name, data):
    d = os.path.join(HERE, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX: 5-byte control header (see fuzz_idx.c), images, labels --------
def idx_pair(n, rows, cols, classes):
    pixels = bytes((i * 37 + 11) % 256 for i in range(n * rows * cols))
    labels = bytes(i % classes for i in range(n))
    images = struct.pack(">IIII", 0x803, n, rows, cols) + pixels
    return images, struct.pack(">II", 0x801, n) + labels


def idx_input(flags, classes, images, labels, cut=0):
    return struct.pack(">BBHB", flags, classes - 1, len(images), cut) + images + labels


img, lab = idx_pair(3, 2, 2, 10)
save("idx", "raw-pair", idx_input(0, 10, img, lab))
save("idx", "gz-pair", idx_input(1 | 2, 10, img, lab))
save("idx", "gz-images-raw-labels", idx_input(1, 10, img, lab))
save("idx", "gz-verbatim", idx_input(1 | 2 | 4, 10, gzip.compress(img, mtime=0),
                                     gzip.compress(lab, mtime=0)))
save("idx", "gz-cut", idx_input(1 | 8, 10, img, lab, cut=5))
img, lab = idx_pair(5, 4, 3, 3)
save("idx", "raw-pair-3-classes", idx_input(0, 3, img, lab))
save("idx", "label-out-of-range", idx_input(0, 2, img, lab))

# ---- safetensors -------------------------------------------------------
def safetensors(tensors, metadata=None):
    """tensors: [(name, shape, floats)] laid out in order, as mupc writes."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, shape, values in tensors:
        blob = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


w0 = [0.5 * i - 1 for i in range(6)]
w1 = [0.25 * i for i in range(4)]
save("safetensors", "mupc-like", safetensors(
    [("layers.0.weight", [2, 3], w0), ("layers.1.weight", [2, 2], w1),
     ("optim.layers.0.m", [2, 3], [0.0] * 6)],
    {"format": "mupc-1", "depth": "2", "width": "2", "data_dir": "/tmp/d"}))
save("safetensors", "no-metadata", safetensors([("w", [4], [1, 2, 3, 4])]))
save("safetensors", "scalar-and-empty", safetensors(
    [("scalar", [], [3.5]), ("empty", [0, 3], []), ("four-d", [1, 2, 1, 2], [1, -1, 2, -2])]))
save("safetensors", "escaped-names", safetensors(
    [("a\\u00e9\"b", [1], [7.0])], {"k\\n": "v\\t\u00e9"}))
save("safetensors", "nothing", safetensors([], {}))

# ---- flags: one argv word per line --------------------------------------
flag_lines = {
    "model": ["--depth", "5", "--width", "16", "--batch", "32", "--infer-steps", "5"],
    "choices": ["--act=gelu", "--loss", "ce", "--algo", "bp", "--optim", "sgd", "--param",
                "ntp", "--lr", "0.05"],
    "activity": ["--activity-optim", "adam", "--activity-lr", "0.1", "--weight-decay", "1e-4",
                 "--seed", "18446744073709551615", "--no-skips", "--no-wavefront"],
    "own": ["--steps", "100", "--ratio", "0.5", "--budget", "2.5e-3", "--limit", "42", "-q",
            "--name", "x y", "-s7", "extra"],
    "bad-values": ["--width", "0", "--batch", "-1", "--lr", "nan", "--depth", " 5"],
    "bad-flags": ["--bogus", "--act", "sigmoid", "--width"],
    "numbers": ["0x10", "1e39", "-0", "+3", "007", "9223372036854775808", "1.5", ""],
}
for name, words in flag_lines.items():
    save("flags", name, "\n".join(words).encode())
