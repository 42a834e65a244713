"""Parameters by name, through the library's one table (mupc_params_*):
Python keyword arguments become the table's text values and back, so a
field added to the table in C is a keyword here with no Python edit."""
import collections
import functools
import ctypes
import os
import re

from . import _capi
from ._capi import CONST, fn

Row = collections.namedtuple(
    "Row", "name key scope type metavar default allowed help absent flags")

_GET_SIZE = 2 * CONST["MUPC_PATH_MAX"]


@functools.lru_cache(maxsize=None)
def _table():
    out = []
    for i in range(fn.params_count()):
        r = fn.params_info(i).contents
        out.append(Row(_capi.text(r.name), _capi.text(r.key), r.scope, r.type,
                       _capi.text(r.metavar), _capi.text(getattr(r, "def")),
                       _capi.text(r.allowed), _capi.text(r.help), _capi.text(r.absent), r.flags))
    return tuple(out)


def rows(scope=None):
    """The table's rows (every one, or those of one MUPC_PSCOPE_*)."""
    return [r for r in _table() if scope is None or r.scope == scope]


def py_name(name):
    """'infer-steps' -> 'infer_steps': the table's names as keywords."""
    return name.replace("-", "_")


def to_text(value):
    """A Python value as the table's text ('true', '30', '0.5', 'relu',
    '0.5,0.5')."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return ",".join(to_text(v) for v in value)
    if hasattr(value, "__index__"):
        return str(value.__index__())
    if isinstance(value, float) or hasattr(value, "__float__"):
        # repr is the shortest text that reads back as the same double, so
        # a float32 value given as a float comes back bit-exact.
        return repr(float(value))
    raise TypeError(f"{type(value).__name__} is no parameter value (a number, bool or name)")


def from_text(text, ptype):
    if text == "":
        return None  # a field whose 0 means "none" (epochs, classes)
    if ptype in (CONST["MUPC_PTYPE_INT"], CONST["MUPC_PTYPE_I64"], CONST["MUPC_PTYPE_U64"]):
        return int(text)
    if ptype == CONST["MUPC_PTYPE_FLOAT"]:
        return float(text)
    if ptype == CONST["MUPC_PTYPE_BOOL"]:
        return text.lower() in ("true", "1", "on", "yes")
    if ptype == CONST["MUPC_PTYPE_NORM"]:
        return tuple(float(v) for v in text.split(","))
    return text


def _suggestion_as_keyword(msg):
    # The library suggests the CLI's spelling ('infer-steps'); a keyword
    # argument is spelt with '_'.
    return re.sub(r"did you mean '([^']*)'", lambda m: f"did you mean '{py_name(m.group(1))}'",
                  msg)


def set_all(struct, setter, values):
    """Sets each name=value of values on struct with setter
    (mupc_params_set or mupc_train_opts_set); None leaves the default.
    ValueError carries the library's message."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            text = to_text(value)
        except TypeError as e:
            raise ValueError(f"{name}={value!r}: {e}") from None
        rc = setter(ctypes.byref(struct), name.encode(), text.encode())
        if rc == 0:
            continue
        err = _capi.error(rc)
        msg = str(err)
        if msg.startswith("no parameter"):
            err.args = (_suggestion_as_keyword(msg),)
        else:
            err.args = (f"{name}={value!r}: {msg}",)
        raise err


def get_all(struct, getter, scope):
    """Every field of struct the table lists for scope, as {keyword: value}."""
    buf = ctypes.create_string_buffer(_GET_SIZE)
    out = {}
    for row in rows(scope):
        _capi.check(getter(ctypes.byref(struct), row.name.encode(), buf, _GET_SIZE), row.name)
        out[py_name(row.name)] = from_text(buf.value.decode(), row.type)
    return out


def net_params(values):
    """mupc_net_params: the defaults with values set by name."""
    p = fn.net_default_params()
    set_all(p, fn.params_set, values)
    return p


def train_opts(values):
    o = fn.train_default_opts()
    set_all(o, fn.train_opts_set, values)
    return o


def data_opts_of(opts):
    """The mupc_data_opts inside a mupc_train_opts."""
    return _capi.DataOpts.from_buffer(opts, _capi._abi.OFFSETS["mupc_train_opts.data"])
