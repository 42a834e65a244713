"""Fixtures of the Python package's tests (tools/test_python.sh runs them in
a fresh virtual environment where `pip install .` put the package).

Environment: MUPC_TEST_DEVICE (default pocl) is the device every test uses;
MUPC_CLI is the `mupc` command the parity tests compare with (tools/test.sh
passes its build's; else the one pip installed beside this Python);
MUPC_FASHION_MNIST the Fashion-MNIST directory (default Debian's
dataset-fashion-mnist)."""
import os
import shutil
import subprocess
import sys

import pytest

import mupc

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

# The tiny network of the CLI tests: learnable on the tiny IDX set in a few
# steps, a step in milliseconds.
TINY_NET = dict(depth=5, width=16, batch=32, infer_steps=5, input_dim=64, output_dim=10)


def pytest_report_header(config):
    return [f"mupc {mupc.__version__} from {os.path.dirname(mupc.__file__)}"]


@pytest.fixture(scope="session")
def device():
    spec = os.environ.get("MUPC_TEST_DEVICE", "pocl")
    try:
        with mupc.Net(device=spec, **TINY_NET) as net:
            net.device
    except mupc.Error as e:
        if e.status in (mupc.ENODEVICE, mupc.ENOPLATFORM):
            pytest.skip(f"no OpenCL device matches '{spec}' (MUPC_TEST_DEVICE): {e}")
        raise
    return spec


def _cli_path():
    env = os.environ.get("MUPC_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    beside = os.path.join(os.path.dirname(sys.executable), "mupc")
    return beside if os.access(beside, os.X_OK) else shutil.which("mupc")


@pytest.fixture(scope="session")
def cli():
    """A function running the `mupc` command; it fails the test on a
    non-zero exit, showing stderr."""
    path = _cli_path()
    if not path:
        pytest.skip("no `mupc` command: set MUPC_CLI to a build's mupc "
                    f"(MUPC_CLI={os.environ.get('MUPC_CLI', '')!r})")

    def run(*args):
        r = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"mupc {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}"
        return r.stdout

    run.path = path
    return run


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """tests/make_tiny_idx.py's data set: 320 training and 64 test images of
    8x8 pixels over ten classes."""
    d = tmp_path_factory.mktemp("tiny")
    subprocess.run([sys.executable, os.path.join(TESTS, "make_tiny_idx.py"), str(d), "320", "64"],
                   check=True)
    return d


@pytest.fixture(scope="session")
def tiny_arrays(tiny):
    return mupc.load_idx(tiny), mupc.load_idx(tiny, train=False)


@pytest.fixture(scope="session")
def fashion():
    d = os.environ.get("MUPC_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
    labels = os.path.join(d, "train-labels-idx1-ubyte")
    if not (os.path.exists(labels) or os.path.exists(labels + ".gz")):
        pytest.skip(f"no Fashion-MNIST in {d} (Debian: dataset-fashion-mnist; MUPC_FASHION_MNIST)")
    return d
