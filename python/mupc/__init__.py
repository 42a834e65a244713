"""mupc: μPC predictive-coding networks trained on any OpenCL device, from
NumPy. A thin binding of libmupc (include/mupc.h): every computation runs in
the library, the same code `mupc train` runs.

    import mupc
    x, y = mupc.load_idx("/usr/share/datasets/fashion-mnist")
    xt, yt = mupc.load_idx("/usr/share/datasets/fashion-mnist", train=False)
    with mupc.Net(device="pocl", seed=0) as net:   # the jpc example network
        rows = mupc.fit(net, x, y, xt, yt, steps=900)
    print(rows[-1]["test_acc"])

Names: devices, Net, fit, load_idx, load_dataset, params_table, Error,
InvalidArgument, __version__, and the status codes (mupc.EINVAL, ...).
"""
from . import _capi
from ._capi import Error, InvalidArgument
from ._data import load_dataset, load_idx
from ._fit import fit
from ._net import Net, devices
from ._params import rows as _rows

__version__ = _capi.VERSION

# The library's status codes as module constants (mupc.EINVAL == -3001),
# from mupc.h's status map.
globals().update(_capi.STATUS)


def params_table():
    """The library's parameter table: one dict per row (name as a keyword,
    scope 'net' or 'train', type, default, allowed values, help)."""
    scopes = {_capi.CONST["MUPC_PSCOPE_NET"]: "net", _capi.CONST["MUPC_PSCOPE_TRAIN"]: "train"}
    types = {v: k[len("MUPC_PTYPE_"):].lower() for k, v in _capi.CONST.items()
             if k.startswith("MUPC_PTYPE_")}
    return [{"name": r.name.replace("-", "_"), "scope": scopes.get(r.scope, r.scope),
             "type": types.get(r.type, r.type), "default": r.default, "allowed": r.allowed,
             "help": r.help} for r in _rows()]


__all__ = ["Error", "InvalidArgument", "Net", "devices", "fit", "load_dataset", "load_idx",
           "params_table", "__version__"] + list(_capi.STATUS)
