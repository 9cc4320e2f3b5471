// Internals of the IDX reader and writer shared by idx.cpp and idx_gzip.cpp; not part of the
// public API (that is idx.h).
#pragma once

#include <string>

namespace tg::idx::detail {

// The gzip encoding (one member, default level) of bytes; `name` is used in errors.
std::string gzip(const std::string& bytes, const std::string& name);

}  // namespace tg::idx::detail
