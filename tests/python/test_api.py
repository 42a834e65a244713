"""The Python API on its own: devices, parameters through the library's
table, the step and its parts, weights, prediction, checkpoints."""
import json
import math

import numpy as np
import pytest

import mupc
from conftest import TINY_NET

DEVICE_KEYS = {"index", "platform", "device", "type", "vendor", "compute_units",
               "global_mem_bytes", "max_work_group_size", "opencl_c_version", "driver_version",
               "default"}


def batch_of(arrays, n=32, start=0):
    (x, y), _ = arrays
    return x[start:start + n], y[start:start + n]


def test_version_is_the_headers():
    assert mupc.__version__ == "0.3.0"
    assert mupc.EINVAL == -3001 and mupc.OK == 0


def test_devices_lists_pocl_as_the_cli_does(cli):
    devs = mupc.devices()
    assert any("pocl" in d["vendor"].lower() or "portable" in d["platform"].lower() for d in devs)
    assert all(set(d) == DEVICE_KEYS for d in devs)
    assert devs == json.loads(cli("devices", "--json"))


def test_params_default_to_the_tables_defaults(device):
    with mupc.Net(device=device) as net:
        params = net.params
    table = {r["name"]: r for r in mupc.params_table() if r["scope"] == "net"}
    # A field added to the C table is a keyword here with no Python edit.
    assert set(params) == set(table)
    assert params["depth"] == 30 and params["width"] == 128 and params["infer_steps"] == 30
    assert params["act"] == "relu" and params["param"] == "mupc" and params["skips"] is True
    assert params["activity_lr"] == pytest.approx(0.5) and params["lr"] == pytest.approx(0.1)


def test_params_by_keyword_round_trip(device):
    with mupc.Net(device=device, depth=3, width=8, infer_steps=4, act="Tanh", skips=False,
                  activity_lr=0.25, seed=2**40 + 1, optim="sgd", input_dim=12,
                  output_dim=3, batch=5) as net:
        p = net.params
        assert (p["depth"], p["width"], p["infer_steps"], p["act"], p["skips"]) == \
            (3, 8, 4, "tanh", False)
        assert p["activity_lr"] == 0.25 and p["seed"] == 2**40 + 1 and p["optim"] == "sgd"
        assert net.shapes == [(8, 12), (8, 8), (3, 8)]
        with mupc.Net(device=device, **p) as again:
            assert again.params == p
            for a, b in zip(again.weights, net.weights):
                assert np.array_equal(a, b)


def test_unknown_parameter_raises_with_the_librarys_suggestion(device):
    with pytest.raises(ValueError, match=r"no parameter 'infer_stpes'.*did you mean 'infer_steps'"):
        mupc.Net(device=device, infer_stpes=3)


def test_bad_parameter_value_raises_with_the_librarys_message(device):
    with pytest.raises(ValueError, match=r"width=0: expected an integer in \[1, 1048576\], got '0'"):
        mupc.Net(device=device, width=0)
    with pytest.raises(ValueError, match=r"act='nosuch': .*relu"):
        mupc.Net(device=device, act="nosuch")
    with pytest.raises(ValueError, match=r"depth=\[\]"):
        mupc.Net(device=device, depth=[])


def test_bad_device_raises_the_librarys_error():
    with pytest.raises(mupc.Error) as e:
        mupc.Net(device="nosuchdevice")
    assert e.value.status == mupc.ENODEVICE and isinstance(e.value, RuntimeError)
    assert "nosuchdevice" in str(e.value) and e.value.name


def test_a_device_is_a_spec_string():
    with pytest.raises(ValueError, match="device: expected a SPEC string"):
        mupc.Net(device=0)


def test_weights_read_and_write(device):
    with mupc.Net(device=device, **TINY_NET) as net:
        ws = net.weights
        assert [w.shape for w in ws] == [(16, 64), (16, 16), (16, 16), (16, 16), (10, 16)]
        assert all(w.dtype == np.float32 for w in ws)
        ws[0][:] = 0.5
        ws[1] = ws[1] * 2
        net.weights = ws
        for a, b in zip(net.weights, ws):
            assert np.array_equal(a, b)
        ws[0][:] = 7  # a copy: the net is unchanged
        assert net.weights[0][0, 0] == 0.5


def test_weights_of_the_wrong_shapes_raise(device):
    with mupc.Net(device=device, **TINY_NET) as net:
        before = net.weights
        with pytest.raises(ValueError, match=r"weights\[2\]: expected shape \[16, 16\].*got \[16, 15\]"):
            net.weights = before[:2] + [np.zeros((16, 15))] + before[3:]
        with pytest.raises(ValueError, match="4 matrices for a net of depth 5"):
            net.weights = before[:4]
        for a, b in zip(net.weights, before):  # nothing was written
            assert np.array_equal(a, b)


def test_step_parts_equal_the_step(device, tiny_arrays):
    x, y = batch_of(tiny_arrays)
    with mupc.Net(device=device, **TINY_NET) as a, mupc.Net(device=device, **TINY_NET) as b:
        st = a.train_step(x, y)
        loss = b.feedforward(x, y)
        b.infer()
        total, per_layer = b.energy()
        acts = b.activities()
        b.update()
        assert loss == st["train_loss"] and total == st["energy"]
        assert per_layer.shape == (5,) and total == pytest.approx(float(per_layer.sum()), rel=1e-5)
        assert len(acts) == 4 and all(z.shape == (32, 16) for z in acts)
        for wa, wb in zip(a.weights, b.weights):
            assert np.array_equal(wa, wb)
        assert a.optim_step == b.optim_step == 1
        assert [g.shape for g in b.gradients()] == b.shapes


def test_one_hot_targets_equal_labels(device, tiny_arrays):
    x, y = batch_of(tiny_arrays)
    onehot = np.eye(10, dtype=np.float32)[y]
    with mupc.Net(device=device, **TINY_NET) as a, mupc.Net(device=device, **TINY_NET) as b:
        assert a.train_step(x, y) == b.train_step(x, onehot)
        for wa, wb in zip(a.weights, b.weights):
            assert np.array_equal(wa, wb)


def test_bad_batches_raise(device, tiny_arrays):
    x, y = batch_of(tiny_arrays)
    with mupc.Net(device=device, **TINY_NET) as net:
        with pytest.raises(ValueError, match="exactly batch=32 samples, got 31"):
            net.train_step(x[:31], y[:31])
        with pytest.raises(ValueError, match=r"expected shape \[n, 64\].*got \[32, 63\]"):
            net.train_step(x[:, :63], y)
        with pytest.raises(ValueError, match=r"labels must lie in 0 … 9.*got 0 … 10"):
            net.train_step(x, np.where(y == y[0], 10, y))
        with pytest.raises(ValueError, match="31 labels for 32 samples"):
            net.train_step(x, y[:31])
        with pytest.raises(ValueError, match=r"targets must have shape \[32, 10\]"):
            net.train_step(x, np.zeros((32, 9), np.float32))


def test_predict_and_evaluate(device, tiny_arrays):
    (x, y), (xt, yt) = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        for _ in range(10):
            for i in range(0, 320, 32):
                net.train_step(x[i:i + 32], y[i:i + 32])
        yhat = net.predict(xt)
        assert yhat.shape == (64, 10) and yhat.dtype == np.float32
        assert np.array_equal(net.predict(xt[:7]), yhat[:7])
        assert net.predict(xt[:0]).shape == (0, 10)
        acc, loss = net.evaluate(xt, yt)
        assert acc == np.mean(yhat.argmax(axis=1) == yt)
        onehot = np.eye(10)[yt]
        assert loss == pytest.approx(0.5 * np.mean(np.sum((onehot - yhat) ** 2, axis=1)), rel=1e-5)
        assert acc > 0.5, "ten epochs of the tiny set should learn it"


def test_divergence_raises_nonfinite(device, tiny_arrays):
    x, y = batch_of(tiny_arrays)
    with mupc.Net(device=device, **dict(TINY_NET, lr=1e30, activity_lr=1e30)) as net:
        with pytest.raises(mupc.Error) as e:
            for _ in range(5):
                net.train_step(x * 1e30, y)
        assert e.value.status == mupc.ENONFINITE and "train_step" in str(e.value)


def test_save_load_round_trip_and_bit_exact_continuation(device, tiny_arrays, tmp_path):
    (x, y), _ = tiny_arrays
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 320, 32)]
    with mupc.Net(device=device, **dict(TINY_NET, seed=5)) as a:
        for bx, by in batches[:4]:
            a.train_step(bx, by)
        a.save(tmp_path / "a.safetensors")
        with mupc.Net.load(tmp_path / "a.safetensors", device=device) as b:
            assert b.params == a.params and b.optim_step == a.optim_step == 4
            for wa, wb in zip(a.weights, b.weights):
                assert np.array_equal(wa, wb)
            for bx, by in batches[4:]:
                assert a.train_step(bx, by) == b.train_step(bx, by)
            for wa, wb in zip(a.weights, b.weights):
                assert np.array_equal(wa, wb)


def test_load_weights_takes_only_the_weights(device, tmp_path):
    with mupc.Net(device=device, **dict(TINY_NET, seed=1)) as a, \
            mupc.Net(device=device, **dict(TINY_NET, seed=2)) as b:
        a.save(tmp_path / "a.safetensors")
        b.load_weights(tmp_path / "a.safetensors")
        assert b.params["seed"] == 2
        for wa, wb in zip(a.weights, b.weights):
            assert np.array_equal(wa, wb)


def test_file_errors_carry_the_librarys_message(device, tmp_path):
    with pytest.raises(mupc.Error) as e:
        mupc.Net.load(tmp_path / "missing.safetensors", device=device)
    assert e.value.status == mupc.EIO and "missing.safetensors" in str(e.value)
    (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(mupc.Error) as e:
        mupc.Net.load(tmp_path / "junk.safetensors", device=device)
    assert e.value.status == mupc.EFORMAT and "junk.safetensors" in str(e.value)
    with mupc.Net(device=device, **TINY_NET) as net:
        with pytest.raises(mupc.Error) as e:
            net.save(tmp_path / "no" / "such" / "dir" / "a.safetensors")
        assert e.value.status == mupc.EIO and "a.safetensors" in str(e.value)
    with mupc.Net(device=device, **dict(TINY_NET, width=17)) as net:
        with pytest.raises(mupc.Error) as e:
            net.load_weights(tmp_path / "junk.safetensors")
        assert str(e.value)


def test_a_closed_net_raises(device):
    net = mupc.Net(device=device, **TINY_NET)
    with net:
        assert net.device_bytes > 0
    with pytest.raises(ValueError, match="closed"):
        net.weights
    net.close()  # twice is fine
    assert "closed" in repr(net)


def test_load_dataset_reads_what_load_idx_reads(tiny):
    x, y = mupc.load_idx(tiny)
    x2, y2 = mupc.load_dataset(tiny, format="idx")
    assert x.shape == (320, 64) and x.dtype == np.float32 and y.shape == (320,)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    raw, _ = mupc.load_idx(tiny, norm=(0, 1))
    assert np.allclose(x, (raw - 0.5) / 0.5, atol=1e-6) and raw.min() >= 0 and raw.max() <= 1
    xt, yt = mupc.load_dataset(tiny, train=False)
    assert xt.shape == (64, 64) and yt.max() < 10


def test_data_errors_carry_the_librarys_message(tmp_path):
    with pytest.raises(mupc.Error) as e:
        mupc.load_idx(tmp_path)
    assert e.value.status == mupc.EIO and str(tmp_path) in str(e.value)
    with pytest.raises(ValueError, match=r"format='nosuch'"):
        mupc.load_dataset(tmp_path, format="nosuch")
    with pytest.raises(ValueError, match=r"norm=\(0.5, 0\)"):
        mupc.load_idx(tmp_path, norm=(0.5, 0))


def test_nets_free_their_device_memory(device):
    """200 nets made and dropped: the process does not grow by their
    buffers (PoCL's device memory is the host's), and every net holds the
    same device memory (nothing carried over)."""
    import gc

    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    params = dict(depth=4, width=256, batch=64, input_dim=784, output_dim=10)
    sizes = set()
    for i in range(220):
        if i == 20:
            gc.collect()
            base = rss()
        net = mupc.Net(device=device, **params)
        sizes.add(net.device_bytes)
        if i % 2:
            net.close()
        del net  # the other half by garbage collection
    gc.collect()
    grown = rss() - base
    per_net = next(iter(sizes))
    assert len(sizes) == 1 and per_net > 4 << 20
    # A leak of every net would be 200 × per_net (> 800 MiB).
    assert grown < 20 * per_net, f"RSS grew by {grown / 2**20:.0f} MiB over 200 nets"


def test_weights_and_scales_run_the_net_elsewhere(device, tiny_arrays):
    """What README "Python" tells a PyTorch or JAX user: the [out, in]
    weights and the scales (a_l, s_l) give the net's own prediction."""
    (x, y), _ = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        for i in range(0, 320, 32):
            net.train_step(x[i:i + 32], y[i:i + 32])
        W, scales = net.weights, net.scales
        a, s = zip(*scales)
        assert s[0] == 0 and s[-1] == 0 and all(v == 1 for v in s[1:-1])
        z = a[0] * x[:50].astype(np.float64) @ W[0].T
        for l in range(1, len(W)):
            z = a[l] * np.maximum(z, 0) @ W[l].T + (s[l] * z if s[l] else 0)
        assert np.allclose(net.predict(x[:50]), z, rtol=1e-4, atol=1e-5)
