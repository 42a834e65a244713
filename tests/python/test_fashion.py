"""Training from NumPy arrays on Fashion-MNIST: the jpc example network
(the library's defaults) learns within 200 steps."""
import numpy as np

import mupc


def test_200_steps_on_fashion_mnist_from_numpy_beat_65_percent(device, fashion):
    x, y = mupc.load_idx(fashion)
    xt, yt = mupc.load_idx(fashion, train=False)
    # Arrays of the user's own making: float64 images [n, 28, 28] and int64
    # labels, which fit takes as they are.
    x, y = x.reshape(-1, 28, 28).astype(np.float64), y.astype(np.int64)
    with mupc.Net(device=device, seed=0) as net:
        rows = mupc.fit(net, x, y, xt, yt, steps=200, eval_every=0)
    final = rows[-1]
    assert final["final"] and final["step"] == 200 and len(rows) == 201
    assert final["test_acc"] > 0.65, final
    assert rows[-2]["train_loss"] < rows[0]["train_loss"]
