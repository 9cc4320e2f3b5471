// The IDX reader and writer (idx.h): file bytes in (raw or gzip), a validated uint8 tensor out.
//
// Why this shape: a header is untrusted input, so parse() checks the magic, the type code,
// the number of dims, each dim and their product (with overflow checks) and finally that the
// data is exactly as long as the header says — and only then allocates a tensor sized from the
// header. A corrupt or hostile file therefore fails with a message, never with a huge
// allocation. The gzip code (zlib, streaming, size-bounded) lives in idx_gzip.cpp.
#include "learner/data/idx.h"

#include <cstring>
#include <filesystem>
#include <limits>

#include "base/file.h"
#include "learner/data/idx_detail.h"
#include "tensor/creation.h"

namespace tg::idx {

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803: unsigned bytes, 3 dims
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801: unsigned bytes, 1 dim

const char* type_name(uint8_t code) {
  switch (code) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "not an IDX type";
  }
}

std::string hex2(unsigned v) {
  static const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[(v >> 4) & 15] + digits[v & 15];
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

using detail::Header;

Header parse_header(const std::vector<uint8_t>& b, const std::string& name) {
  TG_CHECK(!b.empty(), "idx", name, ": empty file (0 bytes), not an IDX file");
  TG_CHECK(b.size() >= 4, "idx", name, ": file too short for an IDX header: ", b.size(),
           " bytes, need at least 4");
  Header h;
  TG_CHECK(detail::parse_header_prefix(b.data(), b.size(), name, h), "idx", name,
           ": truncated header: ", unsigned(b[3]), " dims need ", 4 + 4 * size_t(b[3]),
           " header bytes, file has ", b.size());
  detail::check_data_size(h, b.size() - h.data_offset, name);
  return h;
}

Tensor to_tensor(const std::vector<uint8_t>& b, const Header& h) {
  Tensor t = empty(h.dims, DType::u8);
  if (t.numel()) std::memcpy(t.data<uint8_t>(), b.data() + h.data_offset, size_t(t.numel()));
  return t;
}

void expect_magic(const Header& h, uint32_t magic, const char* what, const std::string& name) {
  TG_CHECK(h.magic == magic, "idx", name, ": expected ", what, " (magic ", magic, ": ",
           (magic & 0xFF), " dims), got magic ", h.magic, " (", h.dims.size(), " dims, shape ",
           shape_str(h.dims), ")");
}

std::string count_mismatch(const char* split, const std::string& images, int64_t n_images,
                           const std::string& labels, int64_t n_labels) {
  return std::string(split) + " images and labels disagree: " + images + " has " +
         std::to_string(n_images) + " images, " + labels + " has " + std::to_string(n_labels) +
         " labels";
}

Split read_split(const std::string& dir, const char* prefix, int num_classes) {
  const std::string images = find_file(dir, std::string(prefix) + "-images-idx3-ubyte");
  const std::string labels = find_file(dir, std::string(prefix) + "-labels-idx1-ubyte");
  Split s{read_images(images), read_labels(labels, num_classes)};
  TG_CHECK(s.images.size(0) == s.labels.size(0), "idx",
           count_mismatch(prefix, images, s.images.size(0), labels, s.labels.size(0)));
  return s;
}

}  // namespace

namespace detail {

bool parse_header_prefix(const uint8_t* b, size_t n, const std::string& name, Header& h) {
  if (n < 4) return false;
  TG_CHECK(b[0] == 0 && b[1] == 0, "idx", name, ": bad magic: the first two bytes are ", hex2(b[0]),
           " ", hex2(b[1]), ", an IDX file starts with 0x00 0x00 (not an IDX file?)");
  TG_CHECK(b[2] == 0x08, "idx", name, ": unsupported IDX type code ", hex2(b[2]), " (",
           type_name(b[2]), "); only 0x08 (unsigned byte) is supported");
  const unsigned ndim = b[3];
  TG_CHECK(ndim >= 1 && ndim <= 4, "idx", name, ": unsupported number of dims ", ndim,
           " (expected 1 to 4)");
  const size_t data_offset = 4 + 4 * size_t(ndim);
  if (n < data_offset) return false;
  h = Header{};
  h.magic = be32(b);
  h.data_offset = data_offset;
  // The product is bounded by what a Tensor can index (int64), checked before each multiply.
  uint64_t product = 1;
  for (unsigned d = 0; d < ndim; ++d) {
    const uint32_t dim = be32(b + 4 + 4 * d);
    TG_CHECK(dim > 0, "idx", name, ": dim ", d, " is 0 (every dim must be > 0)");
    h.dims.push_back(int64_t(dim));
    TG_CHECK(product <= uint64_t(std::numeric_limits<int64_t>::max()) / dim, "idx", name, ": dims ",
             shape_str(h.dims), "... describe more than 2^63 bytes of data (overflow)");
    product *= dim;
  }
  h.data_bytes = product;
  return true;
}

void check_data_size(const Header& h, uint64_t have, const std::string& name) {
  const uint64_t want = h.data_bytes;
  TG_CHECK(want <= have, "idx", name, ": truncated: header says ", want,
           " bytes of data, file has ", have, " (dims ", shape_str(h.dims), ")");
  TG_CHECK(want == have, "idx", name, ": trailing bytes: header says ", want,
           " bytes of data, file has ", have, " (", have - want, " extra; dims ", shape_str(h.dims),
           ")");
}

}  // namespace detail

Tensor parse(const std::vector<uint8_t>& bytes, const std::string& name) {
  return to_tensor(bytes, parse_header(bytes, name));
}

Tensor read(const std::string& path) {
  return parse(read_file(path), path);
}

Tensor parse_images(const std::vector<uint8_t>& bytes, const std::string& name) {
  const Header h = parse_header(bytes, name);
  expect_magic(h, kImagesMagic, "an image file", name);
  return to_tensor(bytes, h);
}

Tensor parse_labels(const std::vector<uint8_t>& bytes, const std::string& name, int num_classes) {
  TG_CHECK(num_classes > 0, "idx", name, ": num_classes must be > 0, got ", num_classes);
  const Header h = parse_header(bytes, name);
  expect_magic(h, kLabelsMagic, "a label file", name);
  const uint8_t* data = bytes.data() + h.data_offset;
  const int64_t n = h.dims[0];
  for (int64_t i = 0; i < n; ++i)
    TG_CHECK(data[i] < num_classes, "idx", name, ": label ", int(data[i]), " at index ", i,
             " is out of range for ", num_classes, " classes");
  Tensor t = empty({n}, DType::i32);
  int32_t* out = t.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) out[i] = data[i];
  return t;
}

Tensor read_images(const std::string& path) {
  return parse_images(read_file(path), path);
}

Tensor read_labels(const std::string& path, int num_classes) {
  TG_CHECK(num_classes > 0, "idx", path, ": num_classes must be > 0, got ", num_classes);
  return parse_labels(read_file(path), path, num_classes);
}

void write(const std::string& path, const Tensor& data_u8, uint32_t magic) {
  TG_CHECK(data_u8.defined() && data_u8.dtype() == DType::u8, "idx::write", path,
           ": the data must be a uint8 tensor, got ",
           data_u8.defined() ? dtype_name(data_u8.dtype()) : "an undefined tensor");
  TG_CHECK((magic >> 8) == 0x08, "idx::write", path, ": magic ", magic,
           " is not an unsigned-byte IDX magic (0x0000080N)");
  const int64_t ndim = data_u8.dim();
  TG_CHECK(int64_t(magic & 0xFF) == ndim && ndim >= 1 && ndim <= 4, "idx::write", path, ": magic ",
           magic, " says ", (magic & 0xFF), " dims, the data has shape ", data_u8.shape_str(),
           " (1 to 4 dims)");
  for (int64_t d : data_u8.shape())
    TG_CHECK(d > 0 && d <= int64_t(std::numeric_limits<uint32_t>::max()), "idx::write", path,
             ": every dim must be in 1..2^32-1, got shape ", data_u8.shape_str());
  const Tensor x = data_u8.detach().to(Device::cpu()).contiguous();
  std::string bytes;
  bytes.reserve(4 + 4 * size_t(ndim) + size_t(x.numel()));
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(char((magic >> shift) & 0xFF));
  for (int64_t d : x.shape())
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(char((uint64_t(d) >> shift) & 0xFF));
  bytes.append(reinterpret_cast<const char*>(x.data<uint8_t>()), size_t(x.numel()));
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  write_file_atomic(path, gz ? detail::gzip(bytes, path) : bytes);
}

std::string find_file(const std::string& dir, const std::string& stem) {
  const std::string raw = (fs::path(dir) / stem).string(), gz = raw + ".gz";
  std::error_code ec;
  if (fs::is_regular_file(raw, ec)) return raw;
  if (fs::is_regular_file(gz, ec)) return gz;
  // Something else under one of the names (a folder, a FIFO, a symlink to /dev/zero or to
  // nothing): the reader says what it is, rather than this saying that nothing is there.
  if (fs::exists(fs::symlink_status(raw, ec))) return raw;
  if (fs::exists(fs::symlink_status(gz, ec))) return gz;
  const std::string where = fs::is_directory(dir, ec) ? "folder '" + dir + "' has neither '" +
                                                            stem + "' nor '" + stem + ".gz'"
                                                      : "folder '" + dir + "' does not exist";
  TG_FAIL("idx", where, " (looked for ", raw, " and ", gz,
          "); run `make data`, or put the four MNIST IDX files there "
          "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
          "t10k-labels-idx1-ubyte, each raw or .gz)");
}

Folder read_folder(const std::string& dir, int num_classes) {
  Folder f{read_split(dir, "train", num_classes), read_split(dir, "t10k", num_classes)};
  const Shape a = f.train.images.shape(), b = f.test.images.shape();
  TG_CHECK(a[1] == b[1] && a[2] == b[2], "idx", dir, ": train images are ", a[1], "x", a[2],
           " but test images are ", b[1], "x", b[2]);
  return f;
}

}  // namespace tg::idx
