#!/usr/bin/env python3
"""PyTorch's side of bench_train: the epoch time of the same MLPs with a plain training loop.

Run on a machine that has PyTorch (not a dependency of tapegrad), pinned like bench_train:
    taskset -c 0,1 python3 bench/pytorch_mlp.py --threads 2 [--data data/mnist]
On a GPU (the side of bench_train's BM_cuda_* rows):
    python3 bench/pytorch_mlp.py --device cuda                 # eager, op by op
    python3 bench/pytorch_mlp.py --device cuda --cuda-graph    # one CUDA Graph replay per step
It prints one line per configuration: course (784-50-10, batch 64) and wide (784-512-512-10,
batch 256), SGD with momentum 0.9, seconds per epoch (best of --epochs after one warm-up).
Real MNIST when the IDX files (raw or .gz) are in --data, else random data of the same shape.

On the GPU the whole data set lives there, each epoch draws its permutation there
(torch.randperm) and each batch is gathered there (index_select); an epoch's time runs from a
torch.cuda.synchronize() before its permutation to one after its last step. float32 matmuls
use full float32 precision, PyTorch's default (no TF32), as tapegrad does by default.

--cuda-graph follows PyTorch's whole-network capture recipe (torch.cuda.graphs): a few warm-up
steps on a side stream, then forward, loss, backward and optimizer.step() are captured into one
CUDA Graph with static input and target tensors. SGD has no `capturable` flag and needs none
here: its learning rate is a constant Python float, baked into the captured kernels (the
static-lr approach; the momentum buffers exist after the warm-up and are updated in place).
Each full batch is gathered straight into the static tensors (index_select(..., out=)) and the
graph is replayed; the short last batch (60000 is not a multiple of 64 or 256) runs eagerly, as
in tapegrad's CudaGraphStep. The graph is captured once, before the warm-up epoch.
"""
import argparse
import gzip
import os
import statistics
import time

import torch
import torch.nn.functional as F


def idx_file(data, name):
    """The IDX file `name` in data, raw or gzipped (as the trainer accepts), or None."""
    for path in (os.path.join(data, name), os.path.join(data, name + ".gz")):
        if os.path.exists(path):
            return path
    return None


def read_bytes(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        return f.read()


def load(data):
    images = idx_file(data, "train-images-idx3-ubyte")
    labels = idx_file(data, "train-labels-idx1-ubyte")
    if images and labels:
        x = torch.frombuffer(bytearray(read_bytes(images)[16:]), dtype=torch.uint8)
        y = torch.frombuffer(bytearray(read_bytes(labels)[8:]), dtype=torch.uint8)
        x = x.float().view(-1, 784)
        x = (x - x.mean()) / x.std()
        return x, y.long()
    g = torch.Generator().manual_seed(1)
    return torch.randn(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)


def make_model(sizes, device):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return model, opt


def step(model, opt, xb, yb):
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)  # as tapegrad's Learner and bench loops do
    return loss


def cpu_epochs(x, y, sizes, bs, epochs):
    """The original CPU loop, unchanged: seconds of each epoch after the warm-up one."""
    model, opt = make_model(sizes, "cpu")
    times = []
    for e in range(epochs + 1):
        perm = torch.randperm(x.shape[0])
        t = time.perf_counter()
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            step(model, opt, x[idx], y[idx])
        if e > 0:
            times.append(time.perf_counter() - t)
    return times, model


def cuda_eager_epochs(x, y, sizes, bs, epochs):
    model, opt = make_model(sizes, x.device)
    n = x.shape[0]
    times = []
    for e in range(epochs + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        perm = torch.randperm(n, device=x.device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            step(model, opt, x.index_select(0, idx), y.index_select(0, idx))
        torch.cuda.synchronize()
        if e > 0:
            times.append(time.perf_counter() - t)
    return times, model


def cuda_graph_epochs(x, y, sizes, bs, epochs, warmup=3):
    model, opt = make_model(sizes, x.device)
    n = x.shape[0]
    full = n // bs
    static_x = torch.empty(bs, x.shape[1], device=x.device, dtype=x.dtype)
    static_y = torch.empty(bs, device=y.device, dtype=y.dtype)
    first = torch.randperm(n, device=x.device)[:bs]
    torch.index_select(x, 0, first, out=static_x)
    torch.index_select(y, 0, first, out=static_y)

    # Warm-up on a side stream (creates the momentum buffers, autograd's and cuBLAS's state),
    # then capture one whole step. zero_grad(set_to_none=True) before the capture: the captured
    # backward allocates the gradients from the graph's private pool and refills them on replay.
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(static_x), static_y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = F.cross_entropy(model(static_x), static_y)
        static_loss.backward()
        opt.step()

    times = []
    for e in range(epochs + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        perm = torch.randperm(n, device=x.device)
        for i in range(full):
            idx = perm[i * bs:(i + 1) * bs]
            torch.index_select(x, 0, idx, out=static_x)
            torch.index_select(y, 0, idx, out=static_y)
            graph.replay()
        if full * bs < n:  # the short last batch, eagerly (fresh gradients, then the step)
            idx = perm[full * bs:]
            opt.zero_grad(set_to_none=True)
            step(model, opt, x.index_select(0, idx), y.index_select(0, idx))
        torch.cuda.synchronize()
        if e > 0:
            times.append(time.perf_counter() - t)
    return times, model


@torch.no_grad()
def train_loss(model, x, y, n=10000):
    """Mean loss on the first n training examples: a check that the timed loop trained."""
    return F.cross_entropy(model(x[:n]), y[:n]).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="with --device cuda: capture each training step in a CUDA Graph")
    a = ap.parse_args()
    if a.cuda_graph and a.device != "cuda":
        ap.error("--cuda-graph needs --device cuda")
    if a.epochs < 1:
        ap.error("--epochs must be at least 1")
    torch.set_num_threads(a.threads)
    x, y = load(a.data)
    if idx_file(a.data, "train-images-idx3-ubyte") and idx_file(a.data, "train-labels-idx1-ubyte"):
        source = f"MNIST from {a.data}"
    else:
        source = f"random data (no MNIST in {a.data})"
    if a.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("pytorch_mlp: --device cuda, but torch.cuda.is_available() is False")
        x, y = x.cuda(), y.cuda()
        run = cuda_graph_epochs if a.cuda_graph else cuda_eager_epochs
        mode = "CUDA Graph" if a.cuda_graph else "eager"
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {mode}, "
              f"float32 matmul precision {torch.get_float32_matmul_precision()}, {source}")
    else:
        run = cpu_epochs
        print(f"torch {torch.__version__}, {a.threads} threads, {source}")
    for name, sizes, bs in [("course", [784, 50, 10], 64), ("wide", [784, 512, 512, 10], 256)]:
        times, model = run(x, y, sizes, bs, a.epochs)
        print(f"{name:7s} {'-'.join(map(str, sizes)):15s} bs {bs:4d}  "
              f"{min(times):.4f} s/epoch (best of {len(times)}; median "
              f"{statistics.median(times):.4f}; loss after training "
              f"{train_loss(model, x, y):.4f})", flush=True)


if __name__ == "__main__":
    main()
