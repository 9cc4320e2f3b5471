# Loads tapegrad's export into a torch nn.Sequential the way a PyTorch user would, and checks
# that the forward pass gives what tapegrad computed. Run by torch_export_check.cmake with the
# folder the export test case wrote: export.safetensors (the model) and io.safetensors (x, y).
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

folder = sys.argv[1]
path = folder + "/export.safetensors"
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
state = load_file(path)
model.load_state_dict(state)  # strict: exactly these keys, no prefix
assert all(t.dtype == torch.float32 and t.is_contiguous() for t in state.values())
with safe_open(path, framework="pt") as f:
    assert f.metadata() == {"arch": "3-4-2"}, f.metadata()
io = load_file(folder + "/io.safetensors")
with torch.no_grad():
    y = model(io["x"])
err = (y - io["y"]).abs().max().item()
assert err < 1e-5, f"forward pass differs from tapegrad's by {err}"
print(f"OK: torch loaded the export; forward pass matches (max abs diff {err:.2e})")
