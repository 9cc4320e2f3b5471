// Bytes in and out of files for the IDX reader: whole-file reads, gzip inflation and deflation
// with zlib.
//
// Why streaming inflate with a bound: a gzip header says nothing trustworthy about the size it
// inflates to, so the output grows in steps and the read fails as soon as it passes max_bytes
// (a "zip bomb" or a corrupt stream cannot exhaust memory). Concatenated gzip members are
// accepted, as gunzip accepts them; anything else after the stream is an error.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "learner/data/idx.h"
#include "learner/data/idx_detail.h"

namespace tg::idx {

namespace {

constexpr size_t kZChunk = size_t(1) << 30;  // zlib counts in uInt: feed at most this at once

// A first guess at the inflated size, only to avoid regrowing the buffer: the gzip trailer's
// ISIZE (the size mod 2^32), trusted no further than deflate's largest ratio (1032:1) and cap.
size_t size_hint(const std::vector<uint8_t>& in, size_t cap) {
  if (in.size() < 18) return 0;
  const uint8_t* t = in.data() + in.size() - 4;
  const size_t isize = size_t(t[0]) | size_t(t[1]) << 8 | size_t(t[2]) << 16 | size_t(t[3]) << 24;
  const size_t ratio_bound = in.size() > SIZE_MAX / 1032 ? SIZE_MAX : in.size() * 1032;
  return std::min({isize, ratio_bound, cap});
}

}  // namespace

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path,
                            size_t max_bytes) {
  z_stream zs{};
  TG_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "idx", path,
           ": zlib inflateInit2 failed: ", zs.msg ? zs.msg : "out of memory");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  // The buffer may grow to max_bytes + 1: one byte past the limit proves it was exceeded.
  const size_t cap = max_bytes == SIZE_MAX ? SIZE_MAX : max_bytes + 1;
  std::vector<uint8_t> out;
  out.reserve(size_hint(in, cap));
  size_t used = 0, fed = 0;
  for (;;) {
    if (zs.avail_in == 0 && fed < in.size()) {
      const size_t n = std::min(in.size() - fed, kZChunk);
      zs.next_in = const_cast<Bytef*>(in.data() + fed);
      zs.avail_in = uInt(n);
      fed += n;
    }
    if (used == out.size()) {  // grow: to the reserved hint first, then by doubling; never past cap
      const size_t step = std::max({out.size(), in.size(), size_t(1) << 16});
      out.resize(std::min(cap, std::max(out.capacity(), out.size() + step)));
    }
    zs.next_out = out.data() + used;
    zs.avail_out = uInt(std::min(out.size() - used, kZChunk));
    const size_t before = zs.avail_out;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    used += before - zs.avail_out;
    TG_CHECK(used <= max_bytes, "idx", path, ": inflates to more than the limit of ", max_bytes,
             " bytes (corrupt, or not an IDX data set?)");
    const bool input_done = zs.avail_in == 0 && fed == in.size();
    if (ret == Z_STREAM_END) {
      if (input_done) break;
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      const size_t left = zs.avail_in + (in.size() - fed);
      TG_CHECK(left >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b, "idx", path, ": ", left,
               " bytes of trailing garbage after the gzip stream");
      inflateReset(&zs);
      continue;
    }
    if (ret == Z_OK || ret == Z_BUF_ERROR) {
      TG_CHECK(!(input_done && zs.avail_out > 0), "idx", path,
               ": truncated gzip stream: the compressed data ends after ", in.size(),
               " bytes, before the end of the stream (", used, " bytes inflated)");
      continue;
    }
    TG_FAIL("idx", path, ": corrupt gzip data: ", zs.msg ? zs.msg : zError(ret));
  }
  out.resize(used);
  return out;
}

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  TG_CHECK(f != nullptr, "idx", "cannot open '", path, "': ", std::strerror(errno));
  // The size from fstat lets a regular file be read in one go; the loop still reads to the end
  // (a file may grow, or be a pipe) and enforces the limit as it goes.
  struct stat st {};
  const size_t hint = ::fstat(::fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode)
                          ? std::min(size_t(st.st_size), max_bytes) + 1
                          : size_t(1) << 20;
  std::vector<uint8_t> bytes;
  for (size_t chunk = hint;; chunk = std::max(chunk, size_t(1) << 20)) {
    const size_t used = bytes.size();
    bytes.resize(used + chunk);
    const size_t got = std::fread(bytes.data() + used, 1, chunk, f.get());
    bytes.resize(used + got);
    TG_CHECK(bytes.size() <= max_bytes, "idx", path, ": the file is larger than the limit of ",
             max_bytes, " bytes");
    if (got < chunk) {
      TG_CHECK(!std::ferror(f.get()), "idx", "cannot read '", path, "': ", std::strerror(errno));
      break;
    }
  }
  return decode(std::move(bytes), path, max_bytes);
}

std::vector<uint8_t> decode(std::vector<uint8_t> bytes, const std::string& name, size_t max_bytes) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
    return gunzip(bytes, name, max_bytes);
  return bytes;
}

namespace detail {

std::string gzip(const std::string& bytes, const std::string& name) {
  z_stream zs{};
  TG_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                        Z_DEFAULT_STRATEGY) == Z_OK,
           "idx::write", name, ": zlib deflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, deflateEnd);
  std::string out;
  std::vector<unsigned char> buf(size_t(1) << 16);
  size_t fed = 0;
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    if (zs.avail_in == 0 && fed < bytes.size()) {
      const size_t n = std::min(bytes.size() - fed, kZChunk);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + fed));
      zs.avail_in = uInt(n);
      fed += n;
    }
    zs.next_out = buf.data();
    zs.avail_out = uInt(buf.size());
    ret = deflate(&zs, fed == bytes.size() ? Z_FINISH : Z_NO_FLUSH);
    TG_CHECK(ret == Z_OK || ret == Z_STREAM_END || ret == Z_BUF_ERROR, "idx::write", name,
             ": zlib deflate failed: ", zs.msg ? zs.msg : zError(ret));
    out.append(reinterpret_cast<const char*>(buf.data()), buf.size() - zs.avail_out);
  }
  return out;
}

}  // namespace detail

}  // namespace tg::idx
