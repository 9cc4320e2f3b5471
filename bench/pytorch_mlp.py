#!/usr/bin/env python3
"""PyTorch's side of bench_train: the epoch time of the same MLPs with a plain training loop.

Run on a machine that has PyTorch (not a dependency of tapegrad), pinned like bench_train:
    taskset -c 0,1 python3 bench/pytorch_mlp.py --threads 2 [--data data/mnist]
It prints one line per configuration: course (784-50-10, batch 64) and wide (784-512-512-10,
batch 256), SGD with momentum 0.9, seconds per epoch (best of --epochs after one warm-up).
Real MNIST when the raw IDX files are in --data, else random data of the same shape.
"""
import argparse
import os
import time

import torch


def load(data):
    path = os.path.join(data, "train-images-idx3-ubyte")
    if os.path.exists(path):
        with open(path, "rb") as f:
            x = torch.frombuffer(bytearray(f.read()[16:]), dtype=torch.uint8)
        with open(os.path.join(data, "train-labels-idx1-ubyte"), "rb") as f:
            y = torch.frombuffer(bytearray(f.read()[8:]), dtype=torch.uint8)
        x = x.float().view(-1, 784)
        x = (x - x.mean()) / x.std()
        return x, y.long()
    g = torch.Generator().manual_seed(1)
    return torch.randn(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)


def epoch_time(x, y, sizes, bs, epochs):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    best = float("inf")
    for e in range(epochs + 1):
        perm = torch.randperm(x.shape[0])
        t = time.perf_counter()
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
        if e > 0:
            best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default="data/mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = load(a.data)
    print(f"torch {torch.__version__}, {a.threads} threads")
    for name, sizes, bs in [("course", [784, 50, 10], 64), ("wide", [784, 512, 512, 10], 256)]:
        print(f"{name:7s} {'-'.join(map(str, sizes)):15s} bs {bs:4d}  "
              f"{epoch_time(x, y, sizes, bs, a.epochs):.3f} s/epoch")


if __name__ == "__main__":
    main()
