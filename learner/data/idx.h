// The IDX format of MNIST and its kin (Fashion-MNIST, KMNIST, EMNIST), raw or gzipped.
//
// A file is a 4-byte magic (0, 0, type code, number of dims), the dims as big-endian uint32,
// then the data. Images are magic 2051 (0x00000803: unsigned bytes, 3 dims), labels 2049
// (0x00000801). Every check runs before any allocation sized from the header: the magic, the
// dims (non-zero, their product bounded), and the data length, which must equal the product
// exactly. Every problem is a tg::Error that names the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg::idx {

// The largest file (raw, or once inflated) the readers accept by default.
constexpr size_t kMaxBytes = size_t(1) << 31;

// Reads a whole IDX file, inflating it when it starts with the gzip magic (1f 8b). Only a
// regular file is opened (a missing path, a folder, a FIFO or a device is a tg::Error saying
// which, and nothing blocks); one larger than max_bytes is refused from its size alone, and a
// raw one whose header does not imply exactly its size before its data is read. The IDX
// header is checked as soon as its bytes are in (raw) or out (gzip); see gunzip.
std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes = kMaxBytes);
// What read_file does after reading: inflates bytes that start with the gzip magic, returns
// any others as they are; `name` is used in errors.
std::vector<uint8_t> decode(std::vector<uint8_t> bytes, const std::string& name,
                            size_t max_bytes = kMaxBytes);
// Inflates a gzipped IDX file (one member, or several back to back as `cat a.gz b.gz` makes)
// in small steps: the IDX header is checked as soon as it is out (magic, type code, dims), and
// the output may then not pass the size it implies (header and data, at most max_bytes), so a
// gzip bomb is refused early and memory stays bounded by that size. Anything else (no gzip
// header, corrupt, truncated, trailing garbage or data) is a tg::Error naming `name`.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& gz, const std::string& name,
                            size_t max_bytes = kMaxBytes);

// Any unsigned-byte IDX file: a uint8 tensor with the file's dims.
Tensor read(const std::string& path);
// Images: uint8 (n, rows, cols), magic 2051.
Tensor read_images(const std::string& path);
// Labels: int32 (n), magic 2049; every label must be < num_classes.
Tensor read_labels(const std::string& path, int num_classes = 10);

// The in-memory parsers the three readers above run on the (decoded) bytes, for bytes that
// come from elsewhere than a file; `name` is used in errors.
Tensor parse(const std::vector<uint8_t>& bytes, const std::string& name);
Tensor parse_images(const std::vector<uint8_t>& bytes, const std::string& name);
Tensor parse_labels(const std::vector<uint8_t>& bytes, const std::string& name,
                    int num_classes = 10);

// Writes an IDX file (raw, or gzipped when path ends in .gz), atomically: a temporary file in
// the same folder, then a rename. For tests and for exporting data.
void write(const std::string& path, const Tensor& data_u8, uint32_t magic);

// A folder with the four files of an MNIST-like data set:
// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each raw or with .gz appended. Image and label counts must agree.
struct Split {
  Tensor images;  // uint8 (n, rows, cols)
  Tensor labels;  // int32 (n)
};
struct Folder {
  Split train, test;
};
Folder read_folder(const std::string& dir, int num_classes = 10);
// The path of one of the four files in dir (raw preferred, else .gz); tg::Error listing what
// was looked for when neither exists.
std::string find_file(const std::string& dir, const std::string& stem);

}  // namespace tg::idx
