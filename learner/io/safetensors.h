// The safetensors format, so weights open in other tools (Python's safetensors, PyTorch, ...):
//   8 bytes   little-endian uint64 N, the header's length
//   N bytes   JSON: {"__metadata__": {"key": "value", ...},
//                    "name": {"dtype": "F32", "shape": [50, 784], "data_offsets": [b, e]}, ...}
//   the data  raw little-endian bytes, tensors back to back (offsets relative to this part)
//
// Reading takes every dtype PyTorch writes for a state dict and converts it to one tapegrad
// has (tensor/dtype.h), exactly or not at all:
//   F32, F64, I32, U8        as they are
//   F16, BF16, F8_E4M3, F8_E5M2 -> float32 (exact: every such value is a float32)
//   I64, U64, U32, I16, U16, I8 -> int32 when every value fits (BatchNorm's
//                               num_batches_tracked is an I64 scalar); a value that does not
//                               fit is an error naming the tensor and the value
//   BOOL                     -> uint8 (bytes must be 0 or 1)
// Any other dtype (C64, F8_E8M0, F4, ...) is an error naming the tensor and the dtype. Every
// header field is checked before it is trusted: the header length against the file size, the
// JSON (strict: base/json.h), each entry's keys, dtype, shape (at most 8 dims, sizes that fit),
// offsets in bounds, non-overlapping and matching shape x dtype size (overflow-checked).
//
// Writing is atomic (base/file.h) and deterministic: "__metadata__" first, then the tensors in
// name order, the data section 8-byte aligned (the header padded with spaces), as PyTorch's
// safetensors reads it.
#pragma once

#include <map>
#include <string>

#include "tensor/tensor.h"

namespace tg {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Tensors may be float32, float64, int32 or uint8, any shape, on any device (copied to the
// CPU). store_as names tensors to write in another safetensors dtype: "I64" (an int32 or uint8
// tensor widened, for PyTorch's int64 buffers) or "BOOL" (a uint8 tensor of 0s and 1s).
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta = {},
                      const std::map<std::string, std::string>& store_as = {});
// Reads a regular file only: a missing path, a folder, a FIFO or a device (a symlink to
// /dev/zero) is a tg::Error saying which (base/file.h InputFile), and nothing blocks.
TensorMap load_safetensors(const std::string& path, Metadata* meta = nullptr);
// The metadata alone ("__metadata__"), from the header: every check load_safetensors makes on
// the header and the file's size, none of the data read.
Metadata read_safetensors_metadata(const std::string& path);
// What load_safetensors does once it has the file's bytes (for bytes from elsewhere, and for
// tests/fuzz); `path` is used in errors.
TensorMap parse_safetensors(const std::string& file, const std::string& path,
                            Metadata* meta = nullptr);

// The exact float32 value of an IEEE half (F16) or bfloat16 (BF16) bit pattern, NaN payloads
// and signs kept; and of the two float8 formats (E4M3 as torch.float8_e4m3fn: no infinities).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);
float float8_e4m3_to_float(uint8_t bits);
float float8_e5m2_to_float(uint8_t bits);

}  // namespace tg
