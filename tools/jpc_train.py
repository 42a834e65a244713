#!/usr/bin/env python3
"""Trains a μPC network with jpc (the authors' JAX library) on an IDX data set
the way `mupc train` does, for side-by-side accuracy comparisons.

    VENV/bin/python tools/jpc_train.py [--depth L] [--width N] [--infer-steps T]
        [--activity-lr 0.5] [--lr 0.1] [--batch 64] [--steps S | --epochs E]
        [--seed K] [--eval-every K] [--metrics FILE.jsonl] [--data DIR]
        [--act relu] [--param mupc] [--no-skips] [--norm MEAN,STD] [--quiet]

The network and its training are jpc's own, as in its example notebook
examples/mupc.ipynb: jpc.make_mlp(param_type=...) initialised from
jax.random.PRNGKey(seed), jpc.make_skip_model for the residual skips, no
biases, a feedforward initialisation of the activities, T steps of gradient
descent on them (optax.sgd(activity_lr)) on jpc's energy (normalised by the
batch size), then one optax.adam(lr) step on the weights; the whole step is
one compiled function. The data side is mupc train's: pixels
(x/255 - MEAN)/STD, one-hot targets, a new order every epoch from --seed
(NumPy's generator, not mupc's), the last partial batch dropped, the whole
test set for every evaluation. --metrics writes the JSON lines of
`mupc train --metrics` (README, "Metrics").

Needs a Python with jax, equinox, optax and jpc: make one with
../shared/tools/jpc_venv.sh JPC_SOURCE VENV, JPC_SOURCE a copy of the public
repository github.com/thebuckleylab/jpc. Exit status: 0 done, 2 bad flag or
data, 3 diverged (NaN or inf; no final line), 77 no jax/jpc in this Python,
130 interrupted."""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

try:
    import numpy as np
except ImportError:  # said in main(), after the flags
    np = None

PROG = "jpc_train.py"
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
ACTS = ("linear", "relu", "tanh", "hard_tanh", "leaky_relu", "gelu", "selu", "silu")
EVAL_CHUNK = 1000  # test samples per compiled evaluation call


def die(msg, code=2):
    print("%s: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    def pos_int(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError("'%s' is not an integer" % s)
        if v < 1:
            raise argparse.ArgumentTypeError("'%s' must be at least 1" % s)
        return v

    def uint(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError("'%s' is not an integer" % s)
        if v < 0:
            raise argparse.ArgumentTypeError("'%s' must be at least 0" % s)
        return v

    def pos_float(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError("'%s' is not a number" % s)
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError("'%s' must be a positive number" % s)
        return v

    def norm(s):
        try:
            m, sd = (float(t) for t in s.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError("'%s' is not MEAN,STD" % s)
        if not (sd > 0):
            raise argparse.ArgumentTypeError("STD in '%s' must be positive" % s)
        return m, sd

    ap = argparse.ArgumentParser(
        prog="tools/" + PROG, description=__doc__.split("\n")[0].rstrip(),
        epilog="Defaults: the jpc example network (L 30, N 128, T 30), mupc train's 1500 steps.")
    ap.add_argument("--depth", type=pos_int, default=30, help="L, weight matrices (hidden layers + 1)")
    ap.add_argument("--width", type=pos_int, default=128, help="N, hidden width")
    ap.add_argument("--infer-steps", type=uint, default=30, help="T, inference steps per batch")
    ap.add_argument("--activity-lr", type=pos_float, default=0.5)
    ap.add_argument("--lr", type=pos_float, default=0.1, help="Adam lr on the weights")
    ap.add_argument("--batch", type=pos_int, default=64)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--steps", type=pos_int, help="training steps (default 1500)")
    g.add_argument("--epochs", type=pos_int, help="or full epochs")
    ap.add_argument("--seed", type=uint, default=0, help="PRNGKey of the init, and the data order")
    ap.add_argument("--eval-every", type=uint, default=100, help="test every K steps, 0: only at the end")
    ap.add_argument("--metrics", metavar="FILE", help="JSON lines, as mupc train --metrics")
    ap.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                    help="IDX data set (default %s)" % DEFAULT_DATA)
    ap.add_argument("--norm", type=norm, default=(0.5, 0.5), metavar="MEAN,STD",
                    help="pixels become (x/255 - MEAN)/STD (default 0.5,0.5)")
    ap.add_argument("--act", choices=ACTS, default="relu")
    ap.add_argument("--param", choices=("mupc", "ntp", "sp"), default="mupc")
    ap.add_argument("--no-skips", action="store_true", help="no residual skips (jpc skip_model None)")
    ap.add_argument("--quiet", action="store_true", help="print only the final result")
    ap.add_argument("--x64", action="store_true",
                    help="float64 throughout (jax_enable_x64): jpc in near-exact arithmetic")
    a = ap.parse_args(argv)
    if a.depth < 2:
        ap.error("--depth must be at least 2")
    return a


# ---- data -------------------------------------------------------------------

def read_idx(directory, stem, magic):
    for name, opener in ((stem, open), (stem + ".gz", gzip.open)):
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            continue
        try:
            with opener(path, "rb") as f:
                raw = f.read()
        except (OSError, EOFError) as e:
            die("cannot read %s: %s" % (path, e))
        if len(raw) < 8 or struct.unpack(">I", raw[:4])[0] != magic:
            die("%s is not an IDX file of the expected kind" % path)
        ndim = magic & 0xFF
        dims = struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim])
        count = int(np.prod(dims))
        body = raw[4 + 4 * ndim:]
        if len(body) != count:
            die("%s: %d data bytes, want %d" % (path, len(body), count))
        return np.frombuffer(body, dtype=np.uint8).reshape(dims), path
    die("no %s[.gz] in %s" % (stem, directory))


def load_split(directory, split, norm):
    images, ip = read_idx(directory, "%s-images-idx3-ubyte" % split, 0x803)
    labels, lp = read_idx(directory, "%s-labels-idx1-ubyte" % split, 0x801)
    if images.shape[0] != labels.shape[0]:
        die("%s has %d images, %s %d labels" % (ip, images.shape[0], lp, labels.shape[0]))
    mean, std = norm
    x = ((images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255.0)
          - np.float32(mean)) / np.float32(std)).astype(np.float32)
    return x, labels.astype(np.int64)


# ---- training ---------------------------------------------------------------

def main(argv):
    a = parse_args(argv)
    try:
        if np is None:
            import numpy  # noqa: F401 (raises the ImportError that names it)
        import jax
        if a.x64:  # before any array exists, so the init and every step are float64
            jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import equinox as eqx
        import optax
        import jpc
    except ImportError as e:
        print("%s: this Python (%s) cannot import %s; make a venv with ../shared/tools/jpc_venv.sh "
              "JPC_SOURCE VENV (JPC_SOURCE: a copy of github.com/thebuckleylab/jpc) and run "
              "VENV/bin/python tools/%s" % (PROG, sys.executable, e.name or e, PROG), file=sys.stderr)
        return 77

    t0 = time.perf_counter()
    x_train, l_train = load_split(a.data, "train", a.norm)
    x_test, l_test = load_split(a.data, "t10k", a.norm)
    n_classes = int(max(l_train.max(), l_test.max())) + 1
    ftype = np.float64 if a.x64 else np.float32
    x_train, x_test = x_train.astype(ftype), x_test.astype(ftype)
    eye = np.eye(n_classes, dtype=ftype)
    y_train, y_test = eye[l_train], eye[l_test]
    n_train, dim = x_train.shape
    per_epoch = n_train // a.batch
    if per_epoch < 1:
        die("--batch %d is larger than the training set (%d)" % (a.batch, n_train))
    total = a.epochs * per_epoch if a.epochs else (a.steps or 1500)

    L, param = a.depth, a.param
    model = jpc.make_mlp(jax.random.PRNGKey(a.seed), input_dim=dim, width=a.width, depth=L,
                         output_dim=n_classes, act_fn=a.act, use_bias=False, param_type=param)
    skip = None if a.no_skips else jpc.make_skip_model(L)
    act_optim = optax.sgd(a.activity_lr)
    w_optim = optax.adam(a.lr)
    w_state = w_optim.init(eqx.filter((model, skip), eqx.is_array))
    T = a.infer_steps

    @eqx.filter_jit
    def train_step(model, skip, w_state, x, y):
        params = (model, skip)
        acts = jpc.init_activities_with_ffwd(model=model, input=x, skip_model=skip, param_type=param)
        loss = jpc.mse_loss(acts[-1], y)

        def infer(_, carry):
            acts, state = carry
            r = jpc.update_pc_activities(params=params, activities=acts, optim=act_optim,
                                         opt_state=state, output=y, input=x, param_type=param)
            return r["activities"], r["opt_state"]

        acts, _ = jax.lax.fori_loop(0, T, infer, (acts, act_optim.init(acts)))
        energy = jpc.pc_energy_fn(params, acts, y, x=x, param_type=param)
        r = jpc.update_pc_params(params=params, activities=acts, optim=w_optim, opt_state=w_state,
                                 output=y, input=x, param_type=param)
        return r["model"], r["skip_model"], r["opt_state"], loss, energy

    @eqx.filter_jit
    def test_chunk(model, skip, x, y):
        loss, acc = jpc.test_discriminative_pc(model=model, output=y, input=x, skip_model=skip,
                                               param_type=param)
        return loss, acc

    def evaluate(model, skip):
        n = x_test.shape[0]
        loss_sum = acc_sum = 0.0
        for i in range(0, n, EVAL_CHUNK):
            xs, ys = x_test[i:i + EVAL_CHUNK], y_test[i:i + EVAL_CHUNK]
            loss, acc = test_chunk(model, skip, jnp.asarray(xs), jnp.asarray(ys))
            loss_sum += float(loss) * len(xs)
            acc_sum += float(acc) / 100.0 * len(xs)  # jpc's accuracy is in percent
        return acc_sum / n, loss_sum / n

    def num(v):
        return v if math.isfinite(v) else None

    mf = None
    if a.metrics:
        try:
            mf = open(a.metrics, "w")
        except OSError as e:
            die("--metrics: cannot create %s: %s" % (a.metrics, e))

    def emit(d):
        if mf:
            mf.write(json.dumps(d, separators=(",", ":")) + "\n")
            mf.flush()

    if not a.quiet:
        print("%s: jpc %s, jax %s on %s; %d training, %d test samples from %s" %
              (PROG, getattr(jpc, "__version__", "?"), jax.__version__, jax.devices()[0].platform,
               n_train, x_test.shape[0], a.data), file=sys.stderr)
        print("%s: depth %d, width %d, %s, %s%s, batch %d, T %d, activity lr %g, Adam lr %g, "
              "seed %d, %d steps (%d per epoch)" %
              (PROG, L, a.width, a.act, param, " no skips" if a.no_skips else "", a.batch, T,
               a.activity_lr, a.lr, a.seed, total, per_epoch), file=sys.stderr)

    rng = np.random.default_rng(a.seed)
    order = None
    for step in range(total):
        epoch = step // per_epoch
        if step % per_epoch == 0:
            order = rng.permutation(n_train)
        idx = order[(step % per_epoch) * a.batch:(step % per_epoch + 1) * a.batch]
        model, skip, w_state, loss, energy = train_step(
            model, skip, w_state, jnp.asarray(x_train[idx]), jnp.asarray(y_train[idx]))
        loss, energy = float(loss), float(energy)
        done = step + 1
        line = {"step": done, "epoch": epoch + 1, "train_loss": num(loss), "energy": num(energy)}
        if not (math.isfinite(loss) and math.isfinite(energy)):
            line["seconds"] = time.perf_counter() - t0
            emit(line)
            die("diverged at step %d: training loss %g, energy %g" % (done, loss, energy), 3)
        eval_now = a.eval_every and done % a.eval_every == 0 and done != total
        if eval_now:
            acc, tloss = evaluate(model, skip)
        line["seconds"] = time.perf_counter() - t0
        if eval_now:
            line["test_acc"], line["test_loss"] = num(acc), num(tloss)
            if not a.quiet:
                print("%s: step %d/%d, epoch %d, train loss %.4f, energy %.4f, test acc %.2f%%, "
                      "test loss %.4f, %.1f s" % (PROG, done, total, epoch + 1, loss, energy,
                                                  100 * acc, tloss, line["seconds"]), file=sys.stderr)
        emit(line)

    acc, tloss = evaluate(model, skip)
    if not math.isfinite(tloss):
        die("diverged at the final evaluation: non-finite test loss (%g)" % tloss, 3)
    secs = time.perf_counter() - t0
    emit({"final": True, "step": total, "test_acc": acc, "test_loss": tloss, "seconds": secs})
    if mf:
        mf.close()
    print("final test accuracy %.2f%% (loss %.4g) after %d steps, %.1f s" % (100 * acc, tloss, total, secs))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("%s: interrupted" % PROG, file=sys.stderr)
        sys.exit(130)
