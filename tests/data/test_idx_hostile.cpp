// Hostile IDX inputs: gzip bombs, sparse files far larger than their header says, and paths
// that are not regular files (FIFOs, folders, symlinks to /dev/zero). Each must be refused
// quickly, with a message that says what is wrong, before anything large is allocated or read,
// and without ever blocking.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "idx_fixture.h"
#include "learner/data/idx.h"
#include "learner/data/idx_detail.h"

using namespace tg;
using namespace tg::test;
namespace fs = std::filesystem;

namespace {

// One gzip member holding `zeros` zero bytes, deflated from a small buffer: 64 MiB of zeros
// make about 64 KiB.
std::string gzip_zeros(size_t zeros) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  const std::vector<unsigned char> in(size_t(1) << 20, 0);
  std::vector<unsigned char> out(size_t(1) << 16);
  std::string gz;
  size_t left = zeros;
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    if (zs.avail_in == 0 && left > 0) {
      const size_t n = std::min(left, in.size());
      zs.next_in = const_cast<unsigned char*>(in.data());
      zs.avail_in = uInt(n);
      left -= n;
    }
    zs.next_out = out.data();
    zs.avail_out = uInt(out.size());
    ret = deflate(&zs, left == 0 ? Z_FINISH : Z_NO_FLUSH);
    REQUIRE((ret == Z_OK || ret == Z_STREAM_END || ret == Z_BUF_ERROR));
    gz.append(reinterpret_cast<const char*>(out.data()), out.size() - zs.avail_out);
  }
  deflateEnd(&zs);
  return gz;
}

// The bomb: 32 members of 64 MiB of zeros each (2 GiB inflated, about 2 MB on disk).
std::string bomb_members() {
  const std::string member = gzip_zeros(size_t(64) << 20);
  std::string gz;
  for (int i = 0; i < 32; ++i) gz += member;
  return gz;
}

// How far f raised the process's peak resident memory, in MiB (getrusage's high-water mark:
// a bound on what f allocated and touched, not a timing). The old readers inflated or read
// gigabytes before refusing; the bounded ones stay within a few MiB.
double peak_growth_mib(const auto& f) {
  auto peak_kib = [] {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss);
  };
  const double before = peak_kib();
  f();
  return (peak_kib() - before) / 1024;
}

// A sparse file of `size` bytes (no data blocks) starting with `head`.
void sparse_file(const std::string& path, const std::vector<uint8_t>& head, off_t size) {
  write_bytes(path, head);
  REQUIRE(::truncate(path.c_str(), size) == 0);
}

}  // namespace

TEST_CASE("idx hostile: a gzip bomb with no valid IDX header is refused at its first bytes") {
  TempDir dir;
  const std::string gz = bomb_members();
  CHECK(gz.size() < (size_t(3) << 20));
  write_bytes(dir / "train-images-idx3-ubyte.gz", to_bytes(gz));
  std::string e;
  const double mib = peak_growth_mib(
      [&] { e = error_of([&] { idx::read_images(dir / "train-images-idx3-ubyte.gz"); }); });
  // Zeros: the magic's 0x00 0x00 is fine, the type code 0x00 is not; nothing past the first
  // step is inflated (the old reader inflated 2 GiB first, and said only "more than the limit").
  CHECK(has(e, "train-images-idx3-ubyte.gz: unsupported IDX type code 0x00"));
  CHECK(mib < 64);  // the old reader peaked at 3 GB
  // In memory, as the fuzz harness calls it.
  CHECK(has(error_of([&] { idx::gunzip(to_bytes(gz), "bomb.gz"); }),
            "bomb.gz: unsupported IDX type code 0x00"));
}

TEST_CASE("idx hostile: a small valid header followed by a gzip bomb is refused as trailing data") {
  TempDir dir;
  // Ten labels, then 2 GiB of zeros in 32 more members.
  const std::vector<uint8_t> labels = idx_bytes(2049, {10}, std::vector<uint8_t>(10, 3));
  const std::string gz = idx::detail::gzip(to_string(labels), "x") + bomb_members();
  write_bytes(dir / "labels.gz", to_bytes(gz));
  std::string e;
  const double mib =
      peak_growth_mib([&] { e = error_of([&] { idx::read_labels(dir / "labels.gz"); }); });
  CHECK(has(e,
            "labels.gz: trailing bytes: header says 10 bytes of data (dims [10]), the gzip "
            "stream inflates to more"));
  CHECK(mib < 64);
  // A header whose own size passes the limit is refused as soon as it is out.
  const std::vector<uint8_t> big = idx_bytes(2051, {60000, 28, 28}, {});
  e = error_of(
      [&] { idx::gunzip(to_bytes(idx::detail::gzip(to_string(big), "x")), "m.gz", 1000); });
  CHECK(has(e,
            "m.gz: inflates to more than the limit of 1000 bytes: its header says 47040016 "
            "(dims [60000, 28, 28])"));
  // Images whose header is right, then more: refused once past the 47 MB the header implies.
  const std::string images =
      idx::detail::gzip(to_string(big), "x") + gzip_zeros(47040000) + gzip_zeros(size_t(64) << 20);
  CHECK(has(error_of([&] { idx::gunzip(to_bytes(images), "im.gz"); }),
            "im.gz: trailing bytes: header says 47040000 bytes of data (dims [60000, 28, 28])"));
  // Exactly the size the header implies still reads.
  const std::string exact = idx::detail::gzip(to_string(big), "x") + gzip_zeros(47040000);
  CHECK(idx::gunzip(to_bytes(exact), "ok.gz").size() == 47040016);
}

TEST_CASE("idx hostile: a sparse raw file is refused from its size, before it is read") {
  TempDir dir;
  // 3 GiB of nothing: larger than the limit, known from the size alone.
  sparse_file(dir / "huge", idx_bytes(2051, {60000, 28, 28}, {}), off_t(3) << 30);
  std::string e;
  double mib = peak_growth_mib([&] { e = error_of([&] { idx::read(dir / "huge"); }); });
  CHECK(has(e, "huge: the file is larger than the limit of 2147483648 bytes (it has 3221225472)"));
  CHECK(mib < 16);  // the old reader read 2.1 GB of it first
  // 1 GiB under a header that says 47 MB: the disagreement is found before any data is read.
  sparse_file(dir / "big", idx_bytes(2051, {60000, 28, 28}, {}), off_t(1) << 30);
  mib = peak_growth_mib([&] { e = error_of([&] { idx::read(dir / "big"); }); });
  CHECK(has(e, "big: trailing bytes: header says 47040000 bytes of data, file has 1073741808"));
  CHECK(mib < 16);
  // And a header that says more than the file holds.
  sparse_file(dir / "short", idx_bytes(2051, {60000, 28, 28}, {}), 1000);
  CHECK(has(error_of([&] { idx::read(dir / "short"); }),
            "short: truncated: header says 47040000 bytes of data, file has 984"));
  // All zeros, no header at all: refused at the type code.
  sparse_file(dir / "zeros", {}, off_t(1) << 30);
  mib = peak_growth_mib([&] { e = error_of([&] { idx::read(dir / "zeros"); }); });
  CHECK(has(e, "zeros: unsupported IDX type code 0x00"));
  CHECK(mib < 16);
}

TEST_CASE("idx hostile: a path that is not a regular file says what it is, and never blocks") {
  TempDir dir;
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", dir / "zero");
  fs::create_symlink(dir / "nowhere", dir / "dangling");
  fs::create_directory(dir / "folder");
  CHECK(
      has(error_of([&] { idx::read(dir / "fifo"); }),
          "idx: cannot open '" + (dir / "fifo") + "': is a FIFO (named pipe), not a regular file"));
  CHECK(has(error_of([&] { idx::read(dir / "zero"); }),
            "cannot open '" + (dir / "zero") +
                "': is a character device, not a regular file (a symlink to '/dev/zero')"));
  CHECK(has(error_of([&] { idx::read_file(dir / "folder"); }),
            "cannot open '" + (dir / "folder") + "': is a folder, not a file"));
  CHECK(has(error_of([&] { idx::read(dir / "missing"); }),
            "cannot open '" + (dir / "missing") + "': no such file"));
  CHECK(has(error_of([&] { idx::read(dir / "dangling"); }),
            "': no such file (a symlink to '" + (dir / "nowhere") + "', which does not exist)"));
  CHECK(has(error_of([&] { idx::read(dir / "fifo/x"); }),
            "no such file (a part of the path is not a folder)"));
}

TEST_CASE(
    "idx hostile: a data folder of FIFOs or symlinks to /dev/zero names the file and its kind") {
  for (const char* kind : {"fifo", "zero"}) {
    CAPTURE(kind);
    TempDir dir;
    for (const char* n : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
      if (std::string(kind) == "fifo")
        REQUIRE(::mkfifo((dir / n).c_str(), 0600) == 0);
      else
        fs::create_symlink("/dev/zero", dir / n);
    }
    const std::string e = error_of([&] { idx::read_folder(dir.str()); });
    CHECK(has(e, "cannot open '" + (dir / "train-images-idx3-ubyte") + "': is a "));
    CHECK(has(e, std::string(kind) == "fifo" ? "FIFO (named pipe), not a regular file"
                                             : "character device, not a regular file"));
    CHECK_FALSE(has(e, "has neither"));
  }
}
