# Loads tapegrad's exports into torch nn.Sequential models the way a PyTorch user would, and
# checks that the forward pass gives what tapegrad computed. Run by torch_export_check.cmake with
# the folder the export test case wrote: export.safetensors (an MLP) with io.safetensors (x, y),
# and cnn.safetensors (the course CNN, BatchNorm buffers included) with cnn_io.safetensors.
#
# The files are read with the safetensors package when it is installed, else with the few lines
# of read_safetensors below (the format: an 8-byte little-endian header size, a JSON header of
# name -> dtype, shape, data_offsets plus "__metadata__", then the raw little-endian data), so
# Debian's python3-torch alone (no safetensors package in Debian 12) runs the check.
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file, without the safetensors package."""
    with open(path, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    meta = header.pop("__metadata__", {})
    data = blob[8 + size:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out, meta


def load(path):
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        return read_safetensors(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    return load_file(path), meta


def check(model, path, io_path, want_meta):
    state, meta = load(path)
    model.load_state_dict(state)  # strict: exactly these keys, no prefix
    assert all(t.is_contiguous() for t in state.values())
    assert all(t.dtype == torch.float32 for k, t in state.items()
               if not k.endswith("num_batches_tracked")), {k: t.dtype for k, t in state.items()}
    assert meta == want_meta, meta
    io, _ = load(io_path)
    model.eval()
    with torch.no_grad():
        y = model(io["x"])
    err = (y - io["y"]).abs().max().item()
    assert err < 1e-5, f"{path}: forward pass differs from tapegrad's by {err}"
    return err


folder = sys.argv[1]
mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
err_mlp = check(mlp, folder + "/export.safetensors", folder + "/io.safetensors", {"arch": "3-4-2"})

nn = torch.nn
cnn = nn.Sequential(
    nn.Unflatten(1, (1, 8, 8)),
    nn.Conv2d(1, 3, 5, stride=2, padding=2, bias=False), nn.ReLU(), nn.BatchNorm2d(3),
    nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False), nn.ReLU(), nn.BatchNorm2d(4),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
err_cnn = check(cnn, folder + "/cnn.safetensors", folder + "/cnn_io.safetensors",
                {"channels": "3-4"})
assert cnn[3].num_batches_tracked.item() == 3, cnn[3].num_batches_tracked
print(f"OK: torch {torch.__version__} loaded both exports; forward passes match "
      f"(max abs diff: MLP {err_mlp:.2e}, CNN {err_cnn:.2e})")
