#!/usr/bin/env python3
"""mupc against jpc (the authors' JAX library) on the same networks, same
machine, same run.

    tools/bench_jpc.py --jpc-python VENV/bin/python [--mupc build/mupc]
                       [--device pocl] [--steps 10] [--rounds 3]
                       [--configs example,deep,wide] [--per-call] [--json]

For each network it alternates, --rounds times, `mupc bench --json` (S timed
steps) with the same step in jpc (S timed steps), so both see the same load,
and prints a markdown table of the median seconds per step of each over all
rounds and their ratio. jpc runs the step of examples/mupc.ipynb (ReLU, μPC
scalings and skips, MSE, GD on activities, Adam on weights, T inference
steps) with the whole step (feedforward init, the T inference steps and the
weight update) under one eqx.filter_jit; --per-call adds the notebook's own
loop (a jitted call per inference step) as a second jpc column. Inputs are
synthetic (U(-1, 1), one-hot targets), as in `mupc bench`. jpc compiles
before its timed steps, mupc warms up.

jpc is not on PyPI: --jpc-python (or JPC_PYTHON) is the interpreter of a
virtual environment that has it. Without one, this says how to make one and
exits 77. Not part of the tests: it needs that environment and minutes."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CONFIGS = {
    'example': ('jpc example', 30, 128, 64, 30),
    'deep': ('depth sweep, H = 128', 129, 64, 64, 128),
    'wide': ('wide', 9, 512, 64, 8),
}
INPUT_DIM, OUTPUT_DIM = 784, 10
HERE = os.path.dirname(os.path.abspath(__file__))


def worker(a):
    """Runs inside the jpc environment: times the step, prints one JSON line."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import jpc
    import numpy as np
    import optax

    L, N, B, T = a.depth, a.width, a.batch, a.infer_steps
    key = jr.PRNGKey(0)
    model = jpc.make_mlp(key, input_dim=INPUT_DIM, width=N, depth=L, output_dim=OUTPUT_DIM,
                         act_fn='relu', param_type='mupc')
    skip_model = jpc.make_skip_model(L)
    activity_optim = optax.sgd(0.5)
    param_optim = optax.adam(0.1)
    opt_state = param_optim.init((eqx.filter(model, eqx.is_array), skip_model))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (B, INPUT_DIM)).astype(np.float32))
    y = jnp.asarray(np.eye(OUTPUT_DIM, dtype=np.float32)[np.arange(B) % OUTPUT_DIM])

    def infer_step(model, skip_model, acts, a_state):
        r = jpc.update_pc_activities(params=(model, skip_model), activities=acts,
                                     optim=activity_optim, opt_state=a_state, output=y, input=x,
                                     param_type='mupc')
        return r['activities'], r['opt_state']

    def learn(model, skip_model, acts, opt_state):
        r = jpc.update_pc_params(params=(model, skip_model), activities=acts, optim=param_optim,
                                 opt_state=opt_state, output=y, input=x, param_type='mupc')
        return r['model'], r['skip_model'], r['opt_state']

    def init(model, skip_model):
        acts = jpc.init_activities_with_ffwd(model=model, input=x, skip_model=skip_model,
                                             param_type='mupc')
        return acts, activity_optim.init(acts)

    @eqx.filter_jit
    def whole_step(model, skip_model, opt_state):
        acts, a_state = init(model, skip_model)
        # A loop, not T unrolled copies: XLA compiles the 128-step network
        # in seconds this way, and the loop body is the whole inference step.
        acts, a_state = jax.lax.fori_loop(
            0, T, lambda t, c: infer_step(model, skip_model, *c), (acts, a_state))
        return learn(model, skip_model, acts, opt_state)

    def per_call_step(model, skip_model, opt_state):
        # examples/mupc.ipynb's loop: jpc's functions are jitted one by one.
        acts, a_state = init(model, skip_model)
        for _ in range(T):
            acts, a_state = infer_step(model, skip_model, acts, a_state)
        return learn(model, skip_model, acts, opt_state)

    step = per_call_step if a.mode == 'per-call' else whole_step
    state = (model, skip_model, opt_state)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        state = step(*state)
        jax.block_until_ready(eqx.filter(state, eqx.is_array))
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    print(json.dumps({'seconds': times, 'jax': jax.__version__,
                      'backend': jax.default_backend()}))


def run_jpc(a, cfg, mode):
    _, L, N, B, T = cfg
    cmd = [a.jpc_python, os.path.abspath(__file__), '--worker', '--mode', mode,
           '--depth', str(L), '--width', str(N), '--batch', str(B), '--infer-steps', str(T),
           '--steps', str(a.steps), '--warmup', str(a.warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_mupc(a, cfg):
    _, L, N, B, T = cfg
    cmd = [a.mupc, 'bench', '--json', '--depth', str(L), '--width', str(N), '--batch', str(B),
           '--infer-steps', str(T), '--steps', str(a.steps), '--warmup', str(a.warmup)]
    if a.device:
        cmd += ['--device', a.device]
    if a.gemm:
        cmd += ['--gemm', a.gemm]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def has_jpc(python):
    if not python or not os.access(python, os.X_OK):
        return False
    probe = subprocess.run([python, '-c', 'import jpc, jax, equinox, optax'],
                           capture_output=True)
    return probe.returncode == 0


def machine():
    """The CPU as /proc/cpuinfo names it (model name, family, model), the
    core count, the settings that change either side's speed, and the load
    average: every figure is quoted with them."""
    info = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                k, _, v = line.partition(':')
                k = k.strip()
                if k in ('model name', 'cpu family', 'model') and k not in info:
                    info[k] = v.strip()
    except OSError:
        pass
    env = ' '.join(f'{k}={v}' for k, v in sorted(os.environ.items())
                   if k.startswith(('OPENBLAS_', 'POCL_', 'MUPC_', 'XLA_')))
    return (f"{info.get('model name', '?')} (family {info.get('cpu family', '?')}, model "
            f"{info.get('model', '?')}), {os.cpu_count()} CPUs; settings: {env or 'none'}")


def load():
    return os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--jpc-python', default=os.environ.get('JPC_PYTHON'))
    ap.add_argument('--mupc', default=os.environ.get('MUPC', os.path.join(HERE, '..', 'build',
                                                                          'mupc')))
    ap.add_argument('--device', default='pocl')
    ap.add_argument('--gemm', default=None, help="mupc's --gemm (default: its own choice)")
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--configs', default='example,deep,wide')
    ap.add_argument('--per-call', action='store_true')
    ap.add_argument('--json', action='store_true')
    # The worker's own flags (it runs under the jpc interpreter).
    ap.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--mode', default='jit', help=argparse.SUPPRESS)
    ap.add_argument('--depth', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--width', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--batch', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--infer-steps', type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return 0

    if not has_jpc(a.jpc_python):
        shared = os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'tools', 'jpc_venv.sh'))
        print(f"bench_jpc.py: no Python with jpc given (--jpc-python or JPC_PYTHON; got "
              f"{a.jpc_python!r}). Make one with\n"
              f"  {shared} JPC_SOURCE VENV\n"
              "(JPC_SOURCE: a checkout of github.com/thebuckleylab/jpc, or a bare clone of it),\n"
              "then pass --jpc-python VENV/bin/python.", file=sys.stderr)
        return 77
    if not os.access(a.mupc, os.X_OK):
        print(f"bench_jpc.py: {a.mupc} is not built (ninja -C build)", file=sys.stderr)
        return 2
    names = [c for c in a.configs.split(',') if c]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        print(f"bench_jpc.py: unknown config {unknown} (known: {', '.join(CONFIGS)})",
              file=sys.stderr)
        return 2

    modes = ['jit'] + (['per-call'] if a.per_call else [])
    load_before = load()
    if load_before >= 0.5:
        print(f"bench_jpc.py: warning: load average {load_before:.2f} before the run (>= 0.5): "
              "figures taken under load do not compare (a loaded machine slows a threaded "
              "peer more than mupc)", file=sys.stderr)
    rows = []
    for name in names:
        cfg = CONFIGS[name]
        mupc_t, jpc_t = [], {m: [] for m in modes}
        last = None
        for r in range(a.rounds):
            # Alternate who goes first, so a load that drifts during the run
            # does not favour either.
            order = ['mupc'] + modes if r % 2 == 0 else modes + ['mupc']
            for who in order:
                if who == 'mupc':
                    last = run_mupc(a, cfg)
                    mupc_t.append(last['seconds_per_step_median'])
                else:
                    res = run_jpc(a, cfg, who)
                    jpc_t[who] += res['seconds']
                    jax_version = res['jax']
        row = {'config': cfg[0], 'depth': cfg[1], 'width': cfg[2], 'batch': cfg[3],
               'infer_steps': cfg[4], 'mupc_seconds': statistics.median(mupc_t),
               'gemm_provider': last.get('gemm_provider', 'clblast'),
               'device': f"{last['device']['platform']} / {last['device']['device']}",
               'jax': jax_version}
        for m in modes:
            row[f'jpc_{m}_seconds'] = statistics.median(jpc_t[m])
            row[f'jpc_{m}_over_mupc'] = row[f'jpc_{m}_seconds'] / row['mupc_seconds']
        rows.append(row)
        print(f"bench_jpc.py: {cfg[0]} done", file=sys.stderr)

    load_after = load()
    if a.json:
        print(json.dumps({'rows': rows, 'steps': a.steps, 'rounds': a.rounds,
                          'machine': machine(), 'load_before': load_before,
                          'load_after': load_after}, indent=2))
        return 0
    head = '| network | L | N | B | T | mupc s/step | jpc (whole step jitted) s/step | jpc / mupc |'
    rule = '|---|---|---|---|---|---|---|---|'
    if a.per_call:
        head += ' jpc (per-call jit) s/step | per-call / mupc |'
        rule += '---|---|'
    print(head)
    print(rule)
    for r in rows:
        line = (f"| {r['config']} | {r['depth']} | {r['width']} | {r['batch']} | "
                f"{r['infer_steps']} | {r['mupc_seconds']:.4f} | {r['jpc_jit_seconds']:.4f} | "
                f"{r['jpc_jit_over_mupc']:.2f} |")
        if a.per_call:
            line += f" {r['jpc_per-call_seconds']:.4f} | {r['jpc_per-call_over_mupc']:.2f} |"
        print(line)
    print()
    print(f"mupc: {rows[0]['device']}, GEMMs on {rows[0]['gemm_provider']}; jpc: JAX "
          f"{rows[0]['jax']} on the CPU. Medians over {a.rounds} alternating rounds of "
          f"{a.steps} timed steps each.")
    print(f"Machine: {machine()}. Load average (1 min) {load_before:.2f} before the run, "
          f"{load_after:.2f} after.")
    return 0


if __name__ == '__main__':
    sys.exit(main())
