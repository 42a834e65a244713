"""mupc.fit: a training run on the library's trainer (mupc_trainer_*), the
one `mupc train` runs, over NumPy arrays."""
import ctypes
import json
import signal
import threading
import time

from . import _capi, _data, _params
from ._capi import CONST, fn


def _line(write, *args):
    """A metrics line as the library writes it for `mupc train --metrics`
    (mupc_train_metrics_json), read back: fit's rows are the CLI's lines by
    construction, keys, rounding and all."""
    buf = ctypes.create_string_buffer(CONST["MUPC_METRICS_JSON_MAX"])
    _capi.check(write(*args, buf, len(buf)), "fit")
    return json.loads(buf.value.decode())


class _Interrupt:
    """While active (on the main thread), Ctrl-C only raises a flag: the
    run stops after the step in progress and fit re-raises
    KeyboardInterrupt, with the net intact."""

    def __init__(self):
        self.pending = False
        self._old = None

    def _handler(self, signum, frame):
        self.pending = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def fit(net, x, y, x_test=None, y_test=None, steps=None, epochs=None, eval_every=100,
        shuffle=True, callback=None):
    """Trains net on (x, y) as `mupc train` does with the same seed and data:
    batches in the order mupc_shuffle(seed, epoch) gives (file order with
    shuffle=False), dropping each epoch's partial batch; an evaluation on
    (x_test, y_test) every eval_every steps (0: none) and at the end.

    x: float32 [n, input_dim] (or [n, ...] of that size); y: int labels [n]
    or one-hot float32 [n, output_dim]. The run's length is steps (default
    1500, as `mupc train`) or epochs, not both.

    Returns the metric dicts of `mupc train --metrics`, one per step
    ({'step', 'epoch', 'train_loss', 'energy', 'seconds'}, with 'test_acc'
    and 'test_loss' after an evaluation) and, with a test set, a final
    {'final': True, 'step', 'test_acc', 'test_loss', 'seconds'}.
    callback(row) sees each step's dict as it comes; a true return stops
    the run after that step (the final evaluation still runs). Ctrl-C stops
    it after the current step and raises KeyboardInterrupt; a diverged step
    raises mupc.Error (ENONFINITE) whose .metrics holds the rows so far.
    """
    if steps is not None and epochs is not None:
        raise ValueError("fit: give steps or epochs, not both")
    if (x_test is None) != (y_test is None):
        raise ValueError("fit: x_test and y_test go together")
    p = net.params
    dim, classes = p["input_dim"], p["output_dim"]
    train = _data.ArrayDataset(x, y, dim, classes, ("x", "y"))
    test = (_data.ArrayDataset(x_test, y_test, dim, classes, ("x_test", "y_test"))
            if x_test is not None else None)
    opts = _params.train_opts({"steps": steps, "epochs": epochs, "eval_every": eval_every,
                               "shuffle": bool(shuffle)})

    rows = []
    start = time.monotonic()
    state = {"stop": False, "error": None}

    def on_step(mp, _arg):
        try:
            row = _line(fn.train_metrics_json, mp, time.monotonic() - start)
            rows.append(row)
            if callback is not None and callback(row):
                state["stop"] = True
            return 1 if state["stop"] or interrupt.pending else 0
        except BaseException as e:  # KeyboardInterrupt too: stop, re-raise after the run
            state["error"] = e
            return 1

    c_on_step = _capi.TRAIN_CALLBACK(on_step)
    with net._lock:
        handle = net._handle()
        tr = ctypes.c_void_p()
        _capi.check(fn.trainer_init(ctypes.byref(tr), handle, train.ref,
                                    test.ref if test else None, ctypes.byref(opts)), "fit")
        try:
            with _Interrupt() as interrupt:
                rc = fn.trainer_run(tr, c_on_step, None)
            if state["error"] is not None:
                raise state["error"]
            if interrupt.pending:
                raise KeyboardInterrupt
            if rc != 0 and not (rc == _capi.STATUS["EINTR"] and state["stop"]):
                err = _capi.error(rc, "fit")
                err.metrics = rows
                raise err
            if test is not None:
                r = _capi.EvalResult()
                _capi.check(fn.trainer_evaluate(tr, None, ctypes.byref(r)), "fit")
                rows.append(_line(fn.train_final_json, fn.trainer_position(tr), ctypes.byref(r),
                                  time.monotonic() - start))
        finally:
            fn.trainer_free(tr)
    return rows
