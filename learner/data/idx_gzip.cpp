// Bytes in and out of files for the IDX reader: whole-file reads, gzip inflation and deflation
// with zlib.
//
// Why read and inflate this way: neither a file's name nor a gzip header says anything
// trustworthy about what is inside, so nothing is allocated from them. A file is opened only
// when it is a regular file (InputFile: never a FIFO that would block, nor /dev/zero that never
// ends) and its size is known first: larger than the limit, or (raw) not the size its IDX
// header implies, it is refused before its data is read. A gzip stream is read and inflated
// in small steps; the IDX header is checked as soon as its bytes are out, and from then on the
// output may not grow past the size that header implies (anything more is trailing data). A
// "gzip bomb" (a small file of members that inflate to gigabytes) is therefore refused after
// one step, and memory stays bounded by the header-implied size (itself at most max_bytes).
// Concatenated gzip members are accepted, as gunzip accepts them; anything else after the
// stream is an error.
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "base/file.h"
#include "learner/data/idx.h"
#include "learner/data/idx_detail.h"

namespace tg::idx {

namespace {

constexpr size_t kZChunk = size_t(1) << 30;    // zlib counts in uInt: feed at most this at once
constexpr size_t kOutStep = size_t(1) << 16;   // inflate at most this much at a time
constexpr uint64_t kMaxDeflateRatio = 1032;    // deflate's largest expansion, output/input
constexpr size_t kReadStep = size_t(1) << 20;  // read compressed files this much at a time
constexpr size_t kMaxHeader = 4 + 4 * 4;       // an IDX header of 4 dims

// Where the compressed bytes come from, in pieces: next() is the next one (empty at the end),
// total() the number of bytes in all.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::pair<const uint8_t*, size_t> next() = 0;
  virtual uint64_t total() const = 0;
};

class MemorySource : public Source {
 public:
  explicit MemorySource(const std::vector<uint8_t>& in) : in_(in) {}
  std::pair<const uint8_t*, size_t> next() override {
    const size_t n = std::min(in_.size() - fed_, kZChunk);
    const uint8_t* p = in_.data() + fed_;
    fed_ += n;
    return {p, n};
  }
  uint64_t total() const override { return in_.size(); }

 private:
  const std::vector<uint8_t>& in_;
  size_t fed_ = 0;
};

// The bytes already read from the file's start (head), then the rest of it, a step at a time.
class FileSource : public Source {
 public:
  FileSource(InputFile& f, std::vector<uint8_t> head, const std::string& path)
      : f_(f), head_(std::move(head)), path_(path) {}
  std::pair<const uint8_t*, size_t> next() override {
    if (!head_done_) {
      head_done_ = true;
      fed_ += head_.size();
      if (!head_.empty()) return {head_.data(), head_.size()};
    }
    if (fed_ >= f_.size()) return {nullptr, 0};
    buf_.resize(size_t(std::min<uint64_t>(kReadStep, f_.size() - fed_)));
    const size_t got = f_.read(buf_.data(), buf_.size());
    TG_CHECK(got > 0, "idx", path_, ": the file got shorter while it was read (", fed_, " of ",
             f_.size(), " bytes)");
    fed_ += got;
    return {buf_.data(), got};
  }
  uint64_t total() const override { return f_.size(); }

 private:
  InputFile& f_;
  std::vector<uint8_t> head_, buf_;
  const std::string& path_;
  bool head_done_ = false;
  uint64_t fed_ = 0;
};

std::vector<uint8_t> inflate_idx(Source& src, const std::string& path, size_t max_bytes) {
  z_stream zs{};
  TG_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "idx", path,
           ": zlib inflateInit2 failed: ", zs.msg ? zs.msg : "out of memory");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  std::vector<uint8_t> out, step(kOutStep);
  detail::Header h;
  bool have_header = false;
  uint64_t limit = max_bytes, fed = 0;  // limit: max_bytes, then the header's total
  const uint64_t total = src.total();
  auto feed = [&] {
    const auto [p, n] = src.next();
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = uInt(n);
    fed += n;
  };
  for (;;) {
    if (zs.avail_in == 0 && fed < total) feed();
    zs.next_out = step.data();
    zs.avail_out = uInt(step.size());
    const int ret = inflate(&zs, Z_NO_FLUSH);
    const size_t got = step.size() - zs.avail_out;
    if (out.size() + got > limit) {
      TG_CHECK(have_header, "idx", path, ": inflates to more than the limit of ", max_bytes,
               " bytes (corrupt, or not an IDX data set?)");
      TG_FAIL("idx", path, ": trailing bytes: header says ", h.data_bytes, " bytes of data (dims ",
              shape_str(h.dims), "), the gzip stream inflates to more (stopped after ",
              out.size() + got, " bytes)");
    }
    out.insert(out.end(), step.data(), step.data() + got);
    if (!have_header && detail::parse_header_prefix(out.data(), out.size(), path, h)) {
      have_header = true;
      TG_CHECK(h.total() <= max_bytes, "idx", path, ": inflates to more than the limit of ",
               max_bytes, " bytes: its header says ", h.total(), " (dims ", shape_str(h.dims), ")");
      limit = h.total();
      TG_CHECK(out.size() <= limit, "idx", path, ": trailing bytes: header says ", h.data_bytes,
               " bytes of data (dims ", shape_str(h.dims), "), the gzip stream inflates to more");
      // Room for what the header implies, but never more than the compressed input can give
      // (deflate expands at most about 1032:1): a small file claiming 2 GiB reserves nothing
      // like it (a fuzzer finding), while a real data set is still allocated once.
      out.reserve(size_t(std::min<uint64_t>(limit, total * kMaxDeflateRatio + kOutStep)));
    }
    const bool input_done = zs.avail_in == 0 && fed == total;
    if (ret == Z_STREAM_END) {
      if (input_done) break;
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is garbage.
      if (zs.avail_in == 0) feed();
      const uint64_t left = total - (fed - zs.avail_in);
      const bool magic = zs.avail_in >= 2 ? zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b
                                          : left >= 2 && zs.next_in[0] == 0x1f;
      TG_CHECK(magic, "idx", path, ": ", left, " bytes of trailing garbage after the gzip stream");
      inflateReset(&zs);
      continue;
    }
    if (ret == Z_OK || ret == Z_BUF_ERROR) {
      TG_CHECK(!(input_done && zs.avail_out > 0), "idx", path,
               ": truncated gzip stream: the compressed data ends after ", total,
               " bytes, before the end of the stream (", out.size(), " bytes inflated)");
      continue;
    }
    TG_FAIL("idx", path, ": corrupt gzip data: ", zs.msg ? zs.msg : zError(ret));
  }
  return out;
}

}  // namespace

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path,
                            size_t max_bytes) {
  MemorySource src(in);
  return inflate_idx(src, path, max_bytes);
}

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
  InputFile f("idx", path);
  const uint64_t size = f.size();
  TG_CHECK(size <= max_bytes, "idx", path, ": the file is larger than the limit of ", max_bytes,
           " bytes (it has ", size, ")");
  std::vector<uint8_t> head(size_t(std::min<uint64_t>(size, kMaxHeader)));
  head.resize(f.read(head.data(), head.size()));
  if (head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
    FileSource src(f, std::move(head), path);
    return inflate_idx(src, path, max_bytes);
  }
  // Raw: the header must imply exactly the file's size before its data is read (a file too
  // short for a header is parse()'s to refuse).
  detail::Header h;
  if (detail::parse_header_prefix(head.data(), head.size(), path, h))
    detail::check_data_size(h, size - h.data_offset, path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  std::copy(head.begin(), head.end(), bytes.begin());
  const size_t want = bytes.size() - head.size();
  const size_t got = want ? f.read(bytes.data() + head.size(), want) : 0;
  TG_CHECK(got == want, "idx", path, ": the file got shorter while it was read (",
           head.size() + got, " of ", size, " bytes)");
  return bytes;
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
