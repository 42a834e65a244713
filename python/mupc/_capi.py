"""The ctypes binding of include/mupc.h: the library, its structs and the
prototypes of the functions the package calls, and the one place where a
status becomes an exception.

The library is the libmupc.so installed beside _abi.py (both come out of the
same build, python/meson.build), and the structs are built from _abi.py,
which the compiler wrote from mupc.h: nothing here restates a C layout.
ctypes releases the GIL around every call (CDLL), so long calls let other
Python threads run.
"""
import ctypes
import os

from . import _abi

# C type names as python/abi.c writes them.
_SCALARS = {
    "int": ctypes.c_int,
    "unsigned": ctypes.c_uint,
    "long": ctypes.c_long,
    "unsigned long": ctypes.c_ulong,
    "long long": ctypes.c_longlong,
    "unsigned long long": ctypes.c_ulonglong,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
    "char": ctypes.c_char,
    "float *": ctypes.POINTER(ctypes.c_float),
    "int *": ctypes.POINTER(ctypes.c_int),
    "unsigned char *": ctypes.POINTER(ctypes.c_ubyte),
    "const char *": ctypes.c_char_p,
    "char *": ctypes.c_char_p,
}

_ALIGNED = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


def _struct(name):
    """The ctypes Structure of C struct `name`, checked field by field
    against the compiler's offsets and sizes. A struct described without
    fields is opaque: storage of its size and alignment."""
    size, align, fields = _abi.STRUCTS[name]
    if fields:
        cfields = []
        for fname, ctype, count, _, _ in fields:
            t = _SCALARS.get(ctype)
            if t is None:
                raise ImportError(f"mupc: {name}.{fname} has C type {ctype!r}, unknown to _capi.py")
            cfields.append((fname, t * count if count else t))
    else:
        unit = _ALIGNED[align]
        cfields = [("_opaque", unit * (size // align))]
    cls = type(name, (ctypes.Structure,), {"_fields_": cfields})
    if ctypes.sizeof(cls) != size or ctypes.alignment(cls) != align:
        raise ImportError(
            f"mupc: ctypes lays out {name} in {ctypes.sizeof(cls)} bytes aligned to "
            f"{ctypes.alignment(cls)}, the C compiler in {size} aligned to {align}")
    for fname, _, _, offset, fsize in fields:
        got = getattr(cls, fname)
        if (got.offset, got.size) != (offset, fsize):
            raise ImportError(
                f"mupc: ctypes puts {name}.{fname} at offset {got.offset} ({got.size} bytes), "
                f"the C compiler at {offset} ({fsize} bytes)")
    return cls


DeviceInfo = _struct("mupc_device_info")
StepStats = _struct("mupc_step_stats")
Dataset = _struct("mupc_dataset")
EvalResult = _struct("mupc_eval_result")
TrainMetrics = _struct("mupc_train_metrics")
ParamInfo = _struct("mupc_param_info")
NetParams = _struct("mupc_net_params")
TrainOpts = _struct("mupc_train_opts")
DataOpts = _struct("mupc_data_opts")
Checkpoint = _struct("mupc_checkpoint")

STATUS = dict(_abi.STATUS)
CONST = dict(_abi.CONSTANTS)
VERSION = _abi.VERSION


def _load():
    here = os.path.dirname(os.path.abspath(_abi.__file__))
    path = os.path.join(here, "libmupc.so")
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"mupc: cannot load its library {path}: {e}") from e


lib = _load()

_p = ctypes.c_void_p
_i = ctypes.c_int
_f = ctypes.c_float
_s = ctypes.c_char_p
_sz = ctypes.c_size_t
_i64 = ctypes.c_int64
_u64 = ctypes.c_uint64
_fp = ctypes.POINTER(ctypes.c_float)
P = ctypes.POINTER

TRAIN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, P(TrainMetrics), ctypes.c_void_p)

# name: (restype, argtypes). Every function the package calls, declared once.
_PROTOTYPES = {
    "mupc_strerror": (_s, [_i]),
    "mupc_errmsg": (_s, []),
    "mupc_device_list": (_i, [P(P(DeviceInfo)), P(_sz)]),
    "mupc_ctx_init": (_i, [P(_p), _s]),
    "mupc_ctx_free": (None, [_p]),
    "mupc_ctx_device": (P(DeviceInfo), [_p]),
    "mupc_ctx_device_bytes": (_u64, [_p]),
    "mupc_net_default_params": (NetParams, []),
    "mupc_net_init": (_i, [P(_p), _p, P(NetParams)]),
    "mupc_net_free": (None, [_p]),
    "mupc_net_get_params": (P(NetParams), [_p]),
    "mupc_net_weight_shape": (None, [_p, _i, P(_i), P(_i)]),
    "mupc_net_train_step": (_i, [_p, _fp, _fp, P(StepStats)]),
    "mupc_net_load_batch": (_i, [_p, _fp, _fp]),
    "mupc_net_feedforward": (_i, [_p, P(_f)]),
    "mupc_net_infer": (_i, [_p, _i]),
    "mupc_net_weight_grads": (_i, [_p]),
    "mupc_net_update": (_i, [_p]),
    "mupc_net_energy": (_i, [_p, _fp, P(_f)]),
    "mupc_net_predict": (_i, [_p, _fp, _i, _fp]),
    "mupc_net_tensor_size": (_sz, [_p, _i, _i]),
    "mupc_net_read": (_i, [_p, _i, _i, _fp]),
    "mupc_net_write": (_i, [_p, _i, _i, _fp]),
    "mupc_net_optim_step": (_i64, [_p]),
    "mupc_layer_scale": (_f, [P(NetParams), _i]),
    "mupc_layer_skip": (_f, [P(NetParams), _i]),
    "mupc_params_count": (_sz, []),
    "mupc_params_info": (P(ParamInfo), [_sz]),
    "mupc_params_set": (_i, [P(NetParams), _s, _s]),
    "mupc_params_get": (_i, [P(NetParams), _s, ctypes.c_char_p, _sz]),
    "mupc_train_default_opts": (TrainOpts, []),
    "mupc_train_opts_set": (_i, [P(TrainOpts), _s, _s]),
    "mupc_train_opts_get": (_i, [P(TrainOpts), _s, ctypes.c_char_p, _sz]),
    "mupc_dataset_load": (_i, [_s, _i, P(DataOpts), P(Dataset)]),
    "mupc_dataset_free": (None, [P(Dataset)]),
    "mupc_evaluate": (_i, [_p, P(Dataset), P(EvalResult)]),
    "mupc_trainer_init": (_i, [P(_p), _p, P(Dataset), P(Dataset), P(TrainOpts)]),
    "mupc_trainer_free": (None, [_p]),
    "mupc_trainer_run": (_i, [_p, TRAIN_CALLBACK, _p]),
    "mupc_trainer_evaluate": (_i, [_p, P(Dataset), P(EvalResult)]),
    "mupc_trainer_position": (_i64, [_p]),
    "mupc_train_metrics_json": (_i, [P(TrainMetrics), ctypes.c_double, _p, _sz]),
    "mupc_train_final_json": (_i, [_i64, P(EvalResult), ctypes.c_double, _p, _sz]),
    "mupc_checkpoint_read": (_i, [_s, P(Checkpoint)]),
    "mupc_net_save": (_i, [_p, _s]),
    "mupc_net_load": (_i, [_p, _s]),
    "mupc_net_load_weights": (_i, [_p, _s]),
}


class _Missing:
    """Stands for a function this build of the library does not export yet:
    calling it says so instead of failing at import."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        raise NotImplementedError(f"mupc: this libmupc has no {self.name}")


class _Functions:
    pass


fn = _Functions()
for _name, (_res, _args) in _PROTOTYPES.items():
    try:
        _f_ = getattr(lib, _name)
    except AttributeError:
        setattr(fn, _name[5:], _Missing(_name))
        continue
    _f_.restype = _res
    _f_.argtypes = _args
    setattr(fn, _name[5:], _f_)


# What the library malloc's for the caller (mupc_device_list) is released
# with the process's own C library.
_libc_free = ctypes.CDLL(None).free
_libc_free.argtypes = [ctypes.c_void_p]
_libc_free.restype = None


def free(ptr):
    _libc_free(ctypes.cast(ptr, ctypes.c_void_p))


def has(name):
    """Whether the library exports mupc_<name>."""
    return not isinstance(getattr(fn, name), _Missing)


def text(b):
    return b.decode("utf-8", "replace") if b is not None else None


class Error(RuntimeError):
    """A failure the library reported: .status is its status code (a
    negative int, mupc.EINVAL …), .name mupc_strerror's name of it, and the
    message mupc_errmsg()'s detail."""

    def __init__(self, status, message):
        self.status = status
        self.name = text(fn.strerror(status))
        super().__init__(message or self.name)


class InvalidArgument(Error, ValueError):
    """The library refused its input (MUPC_EINVAL, MUPC_ESHAPE): both a
    mupc.Error and a ValueError."""


_BAD_INPUT = {STATUS["EINVAL"], STATUS["ESHAPE"]}


def error(status, context=None):
    """The exception for a failed call: the library's message, prefixed by
    what the package was doing (context) when given."""
    msg = text(fn.errmsg()) or text(fn.strerror(status))
    if context:
        msg = f"{context}: {msg}"
    cls = InvalidArgument if status in _BAD_INPUT else Error
    return cls(status, msg)


def check(status, context=None):
    if status != 0:
        raise error(status, context)
