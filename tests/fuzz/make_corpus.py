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
# Images of rank 4 ([2, 3, 2, 2]) and rank 2 ([3, 5]).
pix4 = bytes((i * 29 + 3) % 256 for i in range(24))
save("idx", "rank-4", idx_input(0, 10, struct.pack(">IIIII", 0x804, 2, 3, 2, 2) + pix4,
                                struct.pack(">II", 0x801, 2) + bytes([1, 9])))
save("idx", "rank-2", idx_input(0, 10, struct.pack(">III", 0x802, 3, 5) + pix4[:15],
                                struct.pack(">II", 0x801, 3) + bytes([0, 4, 2])))

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

# ---- data: 1-byte control (see fuzz_data.c), then the test split's file --
def cifar_records(n, coarse_too):
    out = b""
    for r in range(n):
        head = bytes([r % 20, (r * 7) % 100]) if coarse_too else bytes([r % 10])
        out += head + bytes((r + i) % 256 for i in range(3072))
    return out


def tensor_file(entries):
    """entries: [(name, dtype, shape, raw bytes)] in data order."""
    header, data = {}, b""
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


save("data", "cifar10", bytes([0]) + cifar_records(2, False))
save("data", "cifar10-3-channels", bytes([8]) + cifar_records(1, False))
save("data", "cifar100-fine", bytes([1]) + cifar_records(2, True))
save("data", "cifar100-coarse-7", bytes([1 | 4 | 16]) + cifar_records(2, True))
save("data", "cifar10-cut", bytes([0]) + cifar_records(2, False)[:-9])
save("data", "tensors-u8", bytes([2]) + tensor_file(
    [("x", "U8", [2, 2, 3], bytes(range(12))), ("y", "I64", [2], struct.pack("<2q", 1, 0))]))
save("data", "tensors-u8-3-channels", bytes([2 | 8]) + tensor_file(
    [("y", "U8", [2], bytes([3, 1])), ("x", "U8", [2, 3, 2], bytes(range(12)))]))
save("data", "tensors-f32", bytes([3]) + tensor_file(
    [("x", "F32", [2, 2], struct.pack("<4f", 0.5, -1, 2, 0)), ("y", "I16", [2], struct.pack("<2h", 0, 5))]))

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
