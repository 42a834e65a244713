"""NumPy arrays in and out of the library's data sets (mupc_dataset):
checking what the user passes, and reading data set directories with the
library's readers."""
import ctypes
import os

import numpy as np

from . import _capi, _params
from ._capi import fn


def as_inputs(x, dim, what="x"):
    """x as a C-contiguous float32 array [n, dim]; a sample may come with
    any shape whose size is dim ([n, 28, 28] for 784)."""
    a = np.asarray(x)
    if a.ndim < 1 or a.dtype.kind not in "fiub":
        raise ValueError(f"{what}: expected numbers of shape [n, {dim}], got {a.dtype} {list(a.shape)}")
    if a.ndim == 1 or int(np.prod(a.shape[1:])) != dim:
        raise ValueError(f"{what}: expected shape [n, {dim}] (input_dim {dim}), got {list(a.shape)}")
    return np.ascontiguousarray(a.reshape(a.shape[0], dim), dtype=np.float32)


def as_labels(y, n, classes, what="y"):
    """Integer labels [n] in 0 … classes-1 as int32; one-hot float rows
    [n, classes] are taken by their argmax."""
    a = np.asarray(y)
    if a.ndim == 2 and a.dtype.kind == "f":
        if a.shape != (n, classes):
            raise ValueError(f"{what}: one-hot targets must have shape [{n}, {classes}], got {list(a.shape)}")
        if not np.all((a == 0) | (a == 1)) or not np.all(a.sum(axis=1) == 1):
            raise ValueError(f"{what}: float targets must be one-hot (one 1 per row, the rest 0)")
        return np.ascontiguousarray(a.argmax(axis=1), dtype=np.int32)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"{what}: expected integer labels of shape [{n}] or one-hot float32 "
                         f"[{n}, {classes}], got {a.dtype} {list(a.shape)}")
    if a.shape[0] != n:
        raise ValueError(f"{what}: {a.shape[0]} labels for {n} samples")
    if n and (a.min() < 0 or a.max() >= classes):
        raise ValueError(f"{what}: labels must lie in 0 … {classes - 1} (output_dim {classes}), "
                         f"got {a.min()} … {a.max()}")
    return np.ascontiguousarray(a, dtype=np.int32)


def as_targets(y, n, classes, what="y"):
    """float32 one-hot targets [n, classes] from labels [n] or one-hot rows."""
    a = np.asarray(y)
    if a.ndim == 2 and a.dtype.kind == "f":
        if a.shape != (n, classes):
            raise ValueError(f"{what}: targets must have shape [{n}, {classes}], got {list(a.shape)}")
        return np.ascontiguousarray(a, dtype=np.float32)
    labels = as_labels(a, n, classes, what)
    t = np.zeros((n, classes), dtype=np.float32)
    t[np.arange(n), labels] = 1.0
    return t


def fptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


class ArrayDataset:
    """A mupc_dataset over NumPy arrays (no copy): .ref is what the library
    takes; the arrays live as long as this object."""

    def __init__(self, x, labels, dim, classes, what=("x", "y")):
        self.x = as_inputs(x, dim, what[0])
        self.labels = as_labels(labels, self.x.shape[0], classes, what[1])
        d = _capi.Dataset()
        d.count = self.x.shape[0]
        d.dim = dim
        d.rows, d.cols = dim, 1
        d.classes = classes
        d.x = fptr(self.x)
        d.labels = self.labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int))
        self.struct = d
        self.ref = ctypes.byref(d)


def _load(directory, train, opts, what):
    o = _params.train_opts(opts)
    d = _capi.Dataset()
    _capi.check(fn.dataset_load(os.fsencode(directory), 1 if train else 0,
                                ctypes.byref(_params.data_opts_of(o)), ctypes.byref(d)), what)
    try:
        x = np.ctypeslib.as_array(d.x, shape=(d.count, d.dim)).copy()
        labels = np.ctypeslib.as_array(d.labels, shape=(d.count,)).astype(np.int32)
    finally:
        fn.dataset_free(ctypes.byref(d))
    return x, labels


def load_dataset(directory, train=True, **options):
    """(x, labels) of a data set directory in any format the library reads
    (README "Data"): x float32 [n, input_dim] normalised as `mupc train`
    does, labels int32 [n]. options are the CLI's data flags by name:
    format='idx' | 'cifar10' | 'cifar100' | 'tensors' | 'auto',
    label='fine' | 'coarse', classes=N, norm=(mean, std) or
    (m1, …, mc, s1, …, sc)."""
    return _load(directory, train, options, "mupc.load_dataset")


def load_idx(directory, train=True, norm=(0.5, 0.5)):
    """(x, labels) of an IDX directory (MNIST, Fashion-MNIST) with the
    library's IDX reader: pixels (v/255 - mean) / std."""
    return _load(directory, train, {"format": "idx", "norm": norm}, "mupc.load_idx")
