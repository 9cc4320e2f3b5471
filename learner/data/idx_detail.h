// Internals of the IDX reader and writer shared by idx.cpp and idx_gzip.cpp; not part of the
// public API (that is idx.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace tg::idx::detail {

// A checked IDX header: the magic, the dims, where the data starts and how long it is.
struct Header {
  uint32_t magic = 0;
  Shape dims;
  size_t data_offset = 0;   // 4 + 4 * dims
  uint64_t data_bytes = 0;  // the product of the dims, < 2^63
  uint64_t total() const { return data_offset + data_bytes; }
};

// Checks the first n bytes of an IDX file (the magic's two zero bytes, the type code, the
// number of dims, each dim and their product) as far as they go: false while n is too short
// for the whole header (4 + 4 * dims bytes), true with h filled in once it is whole, a
// tg::Error naming `name` for a bad one. The gzip reader runs it on the first inflated bytes,
// the raw reader on the first bytes of the file, before anything sized from the header exists.
bool parse_header_prefix(const uint8_t* b, size_t n, const std::string& name, Header& h);
// Refuses data that is not exactly as long as the header says: `have` bytes follow the header.
void check_data_size(const Header& h, uint64_t have, const std::string& name);

// The gzip encoding (one member, default level) of bytes; `name` is used in errors.
std::string gzip(const std::string& bytes, const std::string& name);

}  // namespace tg::idx::detail
