"""The Python API against `mupc train` on the same device: a step from the
same --init weights and batch gives identical weights, and fit gives what
`mupc train` gives with the same seed and data (weights, metrics)."""
import json

import numpy as np
import pytest

import mupc
from conftest import TINY_NET


def cli_net_flags(params):
    """Net keywords as `mupc train` flags (its data gives the sizes)."""
    flags = []
    for k, v in params.items():
        if k not in ("input_dim", "output_dim"):
            flags += [f"--{k.replace('_', '-')}", str(v)]
    return flags


def weights_of(path, device):
    with mupc.Net.load(path, device=device) as net:
        return net.weights


def assert_weights_match(got, want, rel):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30)
        assert err <= rel, f"layer {i}: relative difference {err:.3g} > {rel}"


def test_a_step_equals_the_clis_step(device, cli, tiny, tiny_arrays, tmp_path):
    (x, y), _ = tiny_arrays
    with mupc.Net(device=device, **dict(TINY_NET, seed=11)) as net:
        net.save(tmp_path / "init.safetensors")
        stats = net.train_step(x[:32], y[:32])
        mine = net.weights
    # Another seed on the CLI's side: its initial weights come from --init;
    # without shuffling its first batch is the file's first 32 samples.
    cli("train", "--data", tiny, "--device", device, *cli_net_flags(
        dict(depth=5, width=16, batch=32, infer_steps=5, seed=3)),
        "--init", tmp_path / "init.safetensors", "--no-shuffle", "--steps", 1, "--eval-every", 0,
        "--metrics", tmp_path / "m.jsonl", "--save", tmp_path / "cli.safetensors", "--quiet")
    theirs = weights_of(tmp_path / "cli.safetensors", device)
    for i, (a, b) in enumerate(zip(mine, theirs)):
        assert np.array_equal(a, b), f"layer {i} differs"
    row = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])
    assert row["train_loss"] == float(str(np.float32(stats["train_loss"])))
    assert row["energy"] == float(str(np.float32(stats["energy"])))


def strip_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def fit_against_train(device, cli, data, arrays, tmp_path, net, run):
    (x, y), (xt, yt) = arrays
    with mupc.Net(device=device, **net) as pynet:
        rows = mupc.fit(pynet, x, y, xt, yt, **run)
        mine = pynet.weights
    flags = cli_net_flags(net) + ["--steps", str(run["steps"]), "--eval-every", str(run["eval_every"])]
    cli("train", "--data", data, "--device", device, *flags, "--metrics", tmp_path / "m.jsonl",
        "--save", tmp_path / "cli.safetensors", "--quiet")
    theirs = weights_of(tmp_path / "cli.safetensors", device)
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    return rows, lines, mine, theirs


def test_fit_equals_mupc_train(device, cli, tiny, tiny_arrays, tmp_path):
    # 30 steps over 10 batches an epoch: three shuffled epochs.
    rows, lines, mine, theirs = fit_against_train(
        device, cli, tiny, tiny_arrays, tmp_path, dict(TINY_NET, seed=7),
        dict(steps=30, eval_every=10))
    assert_weights_match(mine, theirs, 1e-6)
    assert strip_seconds(rows) == strip_seconds(lines)
    assert rows[-1]["final"] is True and rows[-1]["step"] == 30
    assert [r["epoch"] for r in rows[:-1]] == [1] * 10 + [2] * 10 + [3] * 10
    assert sum("test_acc" in r for r in rows[:-1]) == 2


def test_fit_equals_mupc_train_on_fashion_mnist(device, cli, fashion, tmp_path):
    arrays = mupc.load_idx(fashion), mupc.load_idx(fashion, train=False)
    net = dict(depth=5, width=64, batch=64, infer_steps=8, seed=4)
    rows, lines, mine, theirs = fit_against_train(device, cli, fashion, arrays, tmp_path, net,
                                                  dict(steps=20, eval_every=0))
    assert_weights_match(mine, theirs, 1e-6)
    assert strip_seconds(rows) == strip_seconds(lines)


def test_fit_stops_when_the_callback_says(device, tiny_arrays):
    (x, y), (xt, yt) = tiny_arrays
    seen = []
    with mupc.Net(device=device, **TINY_NET) as net:
        rows = mupc.fit(net, x, y, xt, yt, steps=50, callback=lambda r: seen.append(r) or
                        r["step"] == 4)
        assert net.optim_step == 4
    assert seen == rows[:-1] and len(seen) == 4 and rows[-1]["final"] and rows[-1]["step"] == 4


def test_ctrl_c_stops_fit_after_the_step_with_the_net_intact(device, tiny_arrays):
    import os
    import signal

    (x, y), _ = tiny_arrays

    def interrupt_at_3(row):
        if row["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)

    handler = signal.getsignal(signal.SIGINT)
    with mupc.Net(device=device, **TINY_NET) as net:
        with pytest.raises(KeyboardInterrupt):
            mupc.fit(net, x, y, steps=50, callback=interrupt_at_3)
        assert net.optim_step == 3
        assert all(np.all(np.isfinite(w)) for w in net.weights)
        net.train_step(x[:32], y[:32])  # still usable
    assert signal.getsignal(signal.SIGINT) is handler


def test_fit_errors(device, tiny_arrays):
    (x, y), (xt, yt) = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        with pytest.raises(ValueError, match="steps or epochs, not both"):
            mupc.fit(net, x, y, steps=3, epochs=1)
        with pytest.raises(ValueError, match="x_test and y_test go together"):
            mupc.fit(net, x, y, xt)
        with pytest.raises(ValueError, match=r"steps=0: .*got '0'"):
            mupc.fit(net, x, y, steps=0)
        with pytest.raises(mupc.InvalidArgument) as e:
            mupc.fit(net, x[:31], y[:31], steps=1)
        assert e.value.status == mupc.EINVAL and "fit" in str(e.value)
        with pytest.raises(ValueError, match=r"y_test: labels must lie in 0 … 9"):
            mupc.fit(net, x, y, xt, yt + 10, steps=1)
        assert net.optim_step == 0


def test_fit_divergence_raises_with_the_rows_so_far(device, tiny_arrays):
    (x, y), _ = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        with pytest.raises(mupc.Error) as e:
            mupc.fit(net, x * 1e30, y, steps=5)
    assert e.value.status == mupc.ENONFINITE and "fit" in str(e.value)
    assert isinstance(e.value.metrics, list) and len(e.value.metrics) < 5


def test_fit_by_epochs(device, tiny_arrays):
    (x, y), _ = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        rows = mupc.fit(net, x, y, epochs=2, shuffle=False)
    assert len(rows) == 20 and rows[-1]["epoch"] == 2 and "final" not in rows[-1]


def test_mupc_eval_reads_what_net_save_writes(device, cli, tiny, tiny_arrays, tmp_path):
    (x, y), (xt, yt) = tiny_arrays
    with mupc.Net(device=device, **TINY_NET) as net:
        mupc.fit(net, x, y, steps=20, eval_every=0)
        net.save(tmp_path / "py.safetensors")
        acc, loss = net.evaluate(xt, yt)
    out = json.loads(cli("eval", tmp_path / "py.safetensors", "--data", tiny, "--device", device,
                         "--json"))
    assert out["samples"] == 64 and out["test_acc"] == acc
    assert out["test_loss"] == pytest.approx(loss, rel=1e-12)
