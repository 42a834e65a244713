"""mupc.Net: one network on one OpenCL device (a mupc_ctx and a mupc_net)."""
import ctypes
import os
import threading

import numpy as np

from . import _capi, _data, _params
from ._capi import CONST, fn


def device_dict(d):
    """A mupc_device_info as `mupc devices --json` writes it."""
    return {
        "index": f"{d.platform_index}:{d.device_index}",
        "platform": _capi.text(d.platform),
        "device": _capi.text(d.name),
        "type": _capi.text(d.type),
        "vendor": _capi.text(d.vendor),
        "compute_units": d.compute_units,
        "global_mem_bytes": d.global_mem_bytes,
        "max_work_group_size": d.max_work_group_size,
        "opencl_c_version": _capi.text(d.opencl_c_version),
        "driver_version": _capi.text(d.driver_version),
        "default": bool(d.is_default),
    }


def devices():
    """Every OpenCL device of every platform, as dicts with the keys of
    `mupc devices --json` ('index' is "P:D", the SPEC that selects it).
    A machine without any OpenCL platform has none: []."""
    arr = ctypes.POINTER(_capi.DeviceInfo)()
    n = ctypes.c_size_t()
    rc = fn.device_list(ctypes.byref(arr), ctypes.byref(n))
    if rc == _capi.STATUS["ENOPLATFORM"]:
        return []
    _capi.check(rc, "mupc.devices")
    try:
        return [device_dict(arr[i]) for i in range(n.value)]
    finally:
        _capi.free(arr)


def _path(path):
    return os.fsencode(path)


class Net:
    """A μPC network on one OpenCL device.

    Net(device=None, **params): device is a SPEC as `mupc --device` takes it
    ("pocl", "gpu", "0:0"; None: $MUPC_DEVICE, else the first GPU, else the
    first CPU). params are the fields of the library's parameter table
    under their CLI names with '_' for '-' (depth, width, input_dim,
    output_dim, batch, infer_steps, activity_lr, lr, act, param, skips,
    loss, optim, seed, ...); the rest keep `mupc train`'s defaults, the jpc
    example network. An unknown name or a bad value raises ValueError with
    the library's message. Device memory is freed by close(), at the end
    of a `with` block, or when the net is garbage-collected.
    """

    def __init__(self, device=None, **params):
        self._open(_params.net_params(params), device)

    @staticmethod
    def _spec(device):
        if device is None or isinstance(device, str):
            return device.encode() if device else None
        raise ValueError(f"device: expected a SPEC string such as 'pocl', 'gpu' or '0:0', "
                         f"got {device!r}")

    def _open(self, p, device):
        self._net = None
        self._ctx = None
        self._lock = threading.RLock()
        spec = self._spec(device)
        ctx = ctypes.c_void_p()
        _capi.check(fn.ctx_init(ctypes.byref(ctx), spec), "mupc.Net")
        self._ctx = ctx
        net = ctypes.c_void_p()
        rc = fn.net_init(ctypes.byref(net), ctx, ctypes.byref(p))
        if rc:
            err = _capi.error(rc, "mupc.Net")
            self.close()
            raise err
        self._net = net
        self._params = _params.get_all(p, fn.params_get, CONST["MUPC_PSCOPE_NET"])
        self._shapes = []
        for layer in range(self._params["depth"]):
            out_dim, in_dim = ctypes.c_int(), ctypes.c_int()
            fn.net_weight_shape(net, layer, ctypes.byref(out_dim), ctypes.byref(in_dim))
            self._shapes.append((out_dim.value, in_dim.value))

    @classmethod
    def load(cls, path, device=None):
        """The net of a checkpoint (Net.save's or `mupc train --save`'s):
        its parameters, weights, and Adam state and step, so training goes
        on bit-identically."""
        ck = _capi.Checkpoint()
        _capi.check(fn.checkpoint_read(_path(path), ctypes.byref(ck)), "Net.load")
        p = _capi.NetParams.from_buffer_copy(ck, _capi._abi.OFFSETS["mupc_checkpoint.p"])
        self = cls.__new__(cls)
        self._open(p, device)
        self._call(fn.net_load, _path(path), context="Net.load")
        return self

    # ---- life -------------------------------------------------------------

    def close(self):
        """Frees the device memory now (a closed net raises on use)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if getattr(self, "_net", None):
                fn.net_free(self._net)
                self._net = None
            if getattr(self, "_ctx", None):
                fn.ctx_free(self._ctx)
                self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass

    def __repr__(self):
        if not self._net:
            return "<mupc.Net closed>"
        p = self._params
        return (f"<mupc.Net depth={p['depth']} width={p['width']} input_dim={p['input_dim']} "
                f"output_dim={p['output_dim']} on {self.device['device']}>")

    def _handle(self):
        if not self._net:
            raise ValueError("mupc.Net: the net is closed")
        return self._net

    def _call(self, f, *args, context=None):
        """f(net, *args) under the net's lock (the library's calls on one
        net must not overlap; ctypes lets other threads run meanwhile)."""
        with self._lock:
            _capi.check(f(self._handle(), *args), context)

    # ---- what the net is ---------------------------------------------------

    @property
    def params(self):
        """Every parameter of the net by name (a copy): Net(**net.params)
        builds the same network."""
        return dict(self._params)

    @property
    def device(self):
        """The net's device, as a dict of mupc.devices()."""
        with self._lock:
            self._handle()
            return device_dict(fn.ctx_device(self._ctx).contents)

    @property
    def device_bytes(self):
        """Device memory the net's buffers hold, in bytes."""
        with self._lock:
            self._handle()
            return fn.ctx_device_bytes(self._ctx)

    @property
    def shapes(self):
        """[out, in] of each weight matrix."""
        return list(self._shapes)

    @property
    def scales(self):
        """(a_l, s_l) of each layer (DESIGN §1): layer l maps z to
        a_l·φ(z)·W_lᵀ + s_l·z (the first a_1·x·W_1ᵀ, no activation), which
        is what another framework needs to run these weights."""
        with self._lock:
            p = fn.net_get_params(self._handle())
            return [(float(fn.layer_scale(p, i)), float(fn.layer_skip(p, i)))
                    for i in range(len(self._shapes))]

    @property
    def optim_step(self):
        """Adam steps taken so far."""
        with self._lock:
            return fn.net_optim_step(self._handle())

    # ---- tensors -------------------------------------------------------------

    def _read(self, kind, layer, shape):
        out = np.empty(shape, dtype=np.float32)
        self._call(fn.net_read, kind, layer, _data.fptr(out))
        return out

    @property
    def weights(self):
        """The weight matrices, float32 [out, in] each (copies). Assign a
        list of arrays of the same shapes to write them all."""
        return [self._read(CONST["MUPC_T_WEIGHT"], i, s) for i, s in enumerate(self._shapes)]

    @weights.setter
    def weights(self, ws):
        ws = list(ws)
        if len(ws) != len(self._shapes):
            raise ValueError(f"weights: {len(ws)} matrices for a net of depth {len(self._shapes)}")
        arrays = []
        for i, (w, s) in enumerate(zip(ws, self._shapes)):
            a = np.asarray(w)
            if a.shape != s:
                raise ValueError(f"weights[{i}]: expected shape {list(s)} ([out, in]), "
                                 f"got {list(a.shape)}")
            arrays.append(np.ascontiguousarray(a, dtype=np.float32))
        for i, a in enumerate(arrays):
            self._call(fn.net_write, CONST["MUPC_T_WEIGHT"], i, _data.fptr(a),
                       context=f"weights[{i}]")

    def activities(self):
        """The hidden activities z_1 … z_{L-1}, float32 [batch, width] each."""
        shape = (self._params["batch"], self._params["width"])
        return [self._read(CONST["MUPC_T_ACTIVITY"], i, shape)
                for i in range(self._params["depth"] - 1)]

    def gradients(self):
        """The weight gradients of the last update() or train_step(),
        float32 [out, in] each."""
        return [self._read(CONST["MUPC_T_WEIGHT_GRAD"], i, s) for i, s in enumerate(self._shapes)]

    # ---- training ------------------------------------------------------------

    def _batch(self, x, y):
        p = self._params
        xs = _data.as_inputs(x, p["input_dim"])
        if xs.shape[0] != p["batch"]:
            raise ValueError(f"x: a step takes exactly batch={p['batch']} samples, got {xs.shape[0]}")
        ys = _data.as_targets(y, p["batch"], p["output_dim"])
        return xs, ys

    def train_step(self, x, y):
        """One training step on one batch: x float32 [batch, input_dim], y
        int labels [batch] or float32 one-hot [batch, output_dim]. Returns
        {'train_loss', 'energy'}. A non-finite loss or energy raises
        mupc.Error (status ENONFINITE) with the weights as updated."""
        xs, ys = self._batch(x, y)
        st = _capi.StepStats()
        self._call(fn.net_train_step, _data.fptr(xs), _data.fptr(ys), ctypes.byref(st),
                   context="train_step")
        return {"train_loss": float(st.train_loss), "energy": float(st.energy)}

    def feedforward(self, x, y):
        """The first part of a step: loads the batch and sets the activities
        by a forward pass; returns the loss of that prediction."""
        xs, ys = self._batch(x, y)
        loss = ctypes.c_float()
        with self._lock:
            self._call(fn.net_load_batch, _data.fptr(xs), _data.fptr(ys), context="feedforward")
            self._call(fn.net_feedforward, ctypes.byref(loss), context="feedforward")
        return float(loss.value)

    def infer(self, steps=None):
        """steps (default infer_steps) inference steps on the activities."""
        steps = self._params["infer_steps"] if steps is None else int(steps)
        self._call(fn.net_infer, steps, context="infer")

    def energy(self):
        """(total, per_layer): the energy at the current activities, and its
        depth terms as a float32 array."""
        per = np.empty(self._params["depth"], dtype=np.float32)
        total = ctypes.c_float()
        self._call(fn.net_energy, _data.fptr(per), ctypes.byref(total), context="energy")
        return float(total.value), per

    def update(self):
        """The end of a step: weight gradients at the current activities,
        then one optimiser step."""
        with self._lock:
            self._call(fn.net_weight_grads, context="update")
            self._call(fn.net_update, context="update")

    # ---- using the net ---------------------------------------------------------

    def predict(self, x):
        """Feedforward outputs float32 [n, output_dim] for any n (softmax'd
        for loss='ce'). Overwrites the activities."""
        xs = _data.as_inputs(x, self._params["input_dim"])
        out = np.empty((xs.shape[0], self._params["output_dim"]), dtype=np.float32)
        if xs.shape[0]:
            self._call(fn.net_predict, _data.fptr(xs), xs.shape[0], _data.fptr(out),
                       context="predict")
        return out

    def evaluate(self, x, labels):
        """(accuracy, loss) of the feedforward prediction of x against
        labels, as `mupc train` evaluates (DESIGN §3)."""
        d = _data.ArrayDataset(x, labels, self._params["input_dim"], self._params["output_dim"],
                               ("x", "labels"))
        r = _capi.EvalResult()
        self._call(fn.evaluate, d.ref, ctypes.byref(r), context="evaluate")
        return float(r.acc), float(r.loss)

    # ---- files -------------------------------------------------------------------

    def save(self, path):
        """A safetensors checkpoint of the net (weights, Adam state,
        parameters), as `mupc train --save` writes: `mupc eval` and
        `mupc train --init` read it, Net.load continues from it."""
        self._call(fn.net_save, _path(path), context="save")

    def load_weights(self, path):
        """Only the layers.{i}.weight tensors of any safetensors file with
        this net's shapes (as `mupc train --init`)."""
        self._call(fn.net_load_weights, _path(path), context="load_weights")
