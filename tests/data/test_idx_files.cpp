// IDX files on disk: raw and gzipped round trips, broken gzip streams, the size limit, typed
// readers (images, labels), MNIST-like folders, and — when present on this machine — the real
// MNIST and Fashion-MNIST files. Fixtures are written to a temporary folder by each test.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "idx_fixture.h"
#include "learner/data/data.h"
#include "learner/data/idx.h"
#include "learner/data/idx_detail.h"
#include "tensor/creation.h"
#include "tensor/ops.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::file_bytes;
using tg::test::has;
using tg::test::idx_bytes;
using tg::test::TempDir;
using tg::test::write_bytes;

namespace fs = std::filesystem;

namespace {

Tensor some_images(int64_t n, int64_t rows = 3, int64_t cols = 2) {
  Generator gen(7);
  return randint(0, 256, {n, rows, cols}, gen).to(DType::u8);
}

Tensor some_labels(int64_t n) {
  Generator gen(8);
  return randint(0, 10, {n}, gen).to(DType::u8);
}

// Writes an MNIST-like folder: n_train and n_test examples, every file gzipped or raw.
void write_folder(const TempDir& dir, int64_t n_train, int64_t n_test, bool gz,
                  int64_t train_labels = -1) {
  const std::string ext = gz ? ".gz" : "";
  idx::write(dir / ("train-images-idx3-ubyte" + ext), some_images(n_train), 2051);
  idx::write(dir / ("train-labels-idx1-ubyte" + ext),
             some_labels(train_labels < 0 ? n_train : train_labels), 2049);
  idx::write(dir / ("t10k-images-idx3-ubyte" + ext), some_images(n_test), 2051);
  idx::write(dir / ("t10k-labels-idx1-ubyte" + ext), some_labels(n_test), 2049);
}

std::string repo_data(const char* sub) {
  if (const char* env = std::getenv("TG_MNIST_DIR")) return env;
  return (fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / sub).string();
}

}  // namespace

TEST_CASE("idx: write then read round-trips raw and gzipped files") {
  TempDir dir;
  Tensor x = some_images(5);
  idx::write(dir / "x.idx", x, 2051);
  idx::write(dir / "x.idx.gz", x, 2051);
  CHECK(file_bytes(dir / "x.idx").size() == 16 + 30);
  const auto gz = file_bytes(dir / "x.idx.gz");
  REQUIRE(gz.size() > 2);
  CHECK((gz[0] == 0x1f && gz[1] == 0x8b));
  CHECK(equal(idx::read(dir / "x.idx"), x));
  CHECK(equal(idx::read_images(dir / "x.idx.gz"), x));
  CHECK(idx::read_file(dir / "x.idx.gz") == file_bytes(dir / "x.idx"));
  // A non-contiguous view is written in its logical order.
  Tensor v = x.transpose(1, 2);
  idx::write(dir / "v.idx", v, 2051);
  CHECK(equal(idx::read(dir / "v.idx"), v.contiguous()));
}

TEST_CASE("idx: write is atomic and leaves no temporary files") {
  TempDir dir;
  write_bytes(dir / "y.idx", {1, 2, 3});
  idx::write(dir / "y.idx", some_labels(4), 2049);  // replaces the old file
  CHECK(idx::read(dir / "y.idx").numel() == 4);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.str())) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK(has(error_of([&] { idx::write(dir / "nodir/y.idx", some_labels(4), 2049); }),
            "No such file or directory"));
}

TEST_CASE("idx: write refuses data that would not read back") {
  TempDir dir;
  CHECK(has(error_of([&] {
              idx::write(dir / "a", zeros({2, 2}), 0x802);
            }),
            "must be a uint8 tensor, got float32"));
  CHECK(has(error_of([&] { idx::write(dir / "a", some_images(2), 2049); }),
            "magic 2049 says 1 dims, the data has shape [2, 3, 2]"));
  CHECK(has(error_of([&] { idx::write(dir / "a", some_labels(2), 0x0D01); }),
            "not an unsigned-byte IDX magic"));
  CHECK(has(error_of([&] {
              idx::write(dir / "a", zeros({0, 3}, DType::u8), 0x802);
            }),
            "every dim must be in 1..2^32-1"));
  CHECK_FALSE(fs::exists(dir / "a"));
}

TEST_CASE("idx: concatenated gzip members inflate as one file, as gunzip does") {
  TempDir dir;
  const auto raw = idx_bytes(2049, {6}, {1, 2, 3, 4, 5, 6});
  const std::string s = tg::test::to_string(raw);
  const std::string two =
      idx::detail::gzip(s.substr(0, 9), "a") + idx::detail::gzip(s.substr(9), "b");
  write_bytes(dir / "two.gz", tg::test::to_bytes(two));
  CHECK(idx::read_file(dir / "two.gz") == raw);
}

TEST_CASE("idx: a truncated gzip file is refused, naming the file") {
  TempDir dir;
  idx::write(dir / "x.gz", some_images(20, 28, 28), 2051);
  auto gz = file_bytes(dir / "x.gz");
  for (size_t keep : {gz.size() - 1, gz.size() - 8, gz.size() / 2, size_t(12)}) {
    write_bytes(dir / "cut.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + long(keep)));
    std::string e = error_of([&] { idx::read(dir / "cut.gz"); });
    CAPTURE(keep);
    CHECK(has(e, dir / "cut.gz"));
    CHECK(has(e, "truncated gzip stream"));
  }
}

TEST_CASE("idx: garbage after the gzip magic and after the stream is refused") {
  TempDir dir;
  write_bytes(dir / "bad.gz", {0x1f, 0x8b, 0x42, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef});
  std::string e = error_of([&] { idx::read(dir / "bad.gz"); });
  CHECK(has(e, dir / "bad.gz"));
  CHECK(has(e, "corrupt gzip data: unknown compression method"));  // zlib's own words
  // A valid stream followed by junk.
  auto gz =
      tg::test::to_bytes(idx::detail::gzip(tg::test::to_string(idx_bytes(2049, {1}, {3})), "x"));
  gz.insert(gz.end(), {0, 0, 0});
  write_bytes(dir / "junk.gz", gz);
  CHECK(has(error_of([&] { idx::read(dir / "junk.gz"); }), "3 bytes of trailing garbage"));
  // Corrupt deflate data inside a well-formed gzip header.
  gz = file_bytes(dir / "junk.gz");
  for (size_t i = 10; i < 16 && i < gz.size(); ++i) gz[i] = 0xFF;
  write_bytes(dir / "flip.gz", gz);
  CHECK(has(error_of([&] { idx::read(dir / "flip.gz"); }), "corrupt gzip data"));
}

TEST_CASE("idx: read_file stops at max_bytes, raw or inflated") {
  TempDir dir;
  idx::write(dir / "x", zeros({100, 10, 10}, DType::u8), 2051);
  idx::write(dir / "x.gz", zeros({100, 10, 10}, DType::u8), 2051);
  CHECK(idx::read_file(dir / "x", 10016).size() == 10016);
  CHECK(idx::read_file(dir / "x.gz", 10016).size() == 10016);
  CHECK(has(error_of([&] { idx::read_file(dir / "x", 10015); }), "larger than the limit of 10015"));
  std::string e = error_of([&] { idx::read_file(dir / "x.gz", 5000); });
  CHECK(has(e, "inflates to more than the limit of 5000 bytes"));
}

TEST_CASE("idx: a missing file or a folder is refused with the path and what it is") {
  TempDir dir;
  std::string e = error_of([&] { idx::read(dir / "nope"); });
  CHECK(has(e, "cannot open '" + (dir / "nope") + "': no such file"));
  CHECK(has(error_of([&] { idx::read(dir.str()); }), "is a folder, not a file"));
}

TEST_CASE("idx: read_images and read_labels insist on their magic") {
  TempDir dir;
  idx::write(dir / "labels", some_labels(4), 2049);
  idx::write(dir / "images", some_images(4), 2051);
  idx::write(dir / "matrix", zeros({4, 4}, DType::u8), 0x802);
  std::string e = error_of([&] { idx::read_images(dir / "labels"); });
  CHECK(has(e, "expected an image file (magic 2051: 3 dims), got magic 2049 (1 dims"));
  CHECK(has(error_of([&] { idx::read_images(dir / "matrix"); }), "got magic 2050 (2 dims"));
  e = error_of([&] { idx::read_labels(dir / "images"); });
  CHECK(has(e, "expected a label file (magic 2049: 1 dims), got magic 2051 (3 dims"));
  CHECK(idx::read(dir / "matrix").shape() == Shape{4, 4});
}

TEST_CASE("idx: labels become int32 and must be below num_classes") {
  TempDir dir;
  write_bytes(dir / "y", idx_bytes(2049, {5}, {0, 9, 3, 10, 1}));
  std::string e = error_of([&] { idx::read_labels(dir / "y"); });
  CHECK(has(e, "label 10 at index 3 is out of range for 10 classes"));
  Tensor y = idx::read_labels(dir / "y", 11);
  CHECK(y.dtype() == DType::i32);
  CHECK(y.to_vector<int32_t>() == std::vector<int32_t>{0, 9, 3, 10, 1});
  CHECK(has(error_of([&] { idx::read_labels(dir / "y", 0); }), "num_classes must be > 0"));
}

TEST_CASE("idx: find_file prefers the raw file, falls back to .gz, else says what to do") {
  TempDir dir;
  write_bytes(dir / "s.gz", {1});
  CHECK(idx::find_file(dir.str(), "s") == dir / "s.gz");
  write_bytes(dir / "s", {1});
  CHECK(idx::find_file(dir.str(), "s") == dir / "s");
  std::string e = error_of([&] { idx::find_file(dir.str(), "t10k-labels-idx1-ubyte"); });
  CHECK(has(e, dir / "t10k-labels-idx1-ubyte"));
  CHECK(has(e, dir / "t10k-labels-idx1-ubyte.gz"));
  CHECK(has(e, "run `make data`, or put the four MNIST IDX files there"));
}

TEST_CASE("idx: read_folder reads a gzipped folder and a raw one") {
  TempDir gz, raw;
  write_folder(gz, 6, 4, true);
  write_folder(raw, 6, 4, false);
  for (const TempDir* d : {&gz, &raw}) {
    idx::Folder f = idx::read_folder(d->str());
    CHECK(f.train.images.shape() == Shape{6, 3, 2});
    CHECK(f.train.labels.shape() == Shape{6});
    CHECK(f.test.images.shape() == Shape{4, 3, 2});
    CHECK(f.test.labels.dtype() == DType::i32);
    CHECK(equal(f.train.images, some_images(6)));
    CHECK(equal(f.test.labels, some_labels(4).to(DType::i32)));
  }
}

TEST_CASE("idx: read_folder refuses image and label counts that disagree") {
  TempDir dir;
  write_folder(dir, 6, 4, true, 5);
  std::string e = error_of([&] { idx::read_folder(dir.str()); });
  CHECK(has(e, "train images and labels disagree"));
  CHECK(has(e, dir / "train-images-idx3-ubyte.gz"));
  CHECK(has(e, "has 6 images"));
  CHECK(has(e, dir / "train-labels-idx1-ubyte.gz"));
  CHECK(has(e, "has 5 labels"));
}

TEST_CASE("idx: read_folder refuses train and test images of different sizes") {
  TempDir dir;
  write_folder(dir, 2, 2, false);
  idx::write(dir / "t10k-images-idx3-ubyte", some_images(2, 4, 4), 2051);
  CHECK(has(error_of([&] { idx::read_folder(dir.str()); }),
            "train images are 3x2 but test images are 4x4"));
}

TEST_CASE("idx: read_folder on a missing folder or file says how to get the data") {
  TempDir dir;
  std::string e = error_of([&] { idx::read_folder(dir / "absent"); });
  CHECK(has(e, "does not exist"));
  CHECK(has(e, "make data"));
  write_folder(dir, 2, 2, false);
  fs::remove(dir / "t10k-images-idx3-ubyte");
  e = error_of([&] { idx::read_folder(dir.str()); });
  CHECK(has(e, "has neither 't10k-images-idx3-ubyte' nor 't10k-images-idx3-ubyte.gz'"));
}

TEST_CASE("idx: the real MNIST files in data/mnist, when present") {
  const std::string dir = repo_data("mnist");
  if (!fs::exists(fs::path(dir) / "train-labels-idx1-ubyte") &&
      !fs::exists(fs::path(dir) / "train-labels-idx1-ubyte.gz")) {
    MESSAGE("skipped: no MNIST in " << dir << " (run `make data`)");
    return;
  }
  idx::Folder f = idx::read_folder(dir);
  CHECK(f.train.images.shape() == Shape{60000, 28, 28});
  CHECK(f.train.labels.shape() == Shape{60000});
  CHECK(f.test.images.shape() == Shape{10000, 28, 28});
  CHECK(f.test.labels.shape() == Shape{10000});
  CHECK(f.train.labels.narrow(0, 0, 5).to_vector<int32_t>() == std::vector<int32_t>{5, 0, 4, 1, 9});
  CHECK(f.test.labels.narrow(0, 0, 5).to_vector<int32_t>() == std::vector<int32_t>{7, 2, 1, 0, 4});
  // The course's statistics of x_train / 255 (torchvision's 0.1307 and 0.3081).
  Normalization n = stats_of(f.train.images);
  CHECK(n.mean / 255 == doctest::Approx(0.1307).epsilon(5e-4));
  CHECK(n.std / 255 == doctest::Approx(0.3081).epsilon(5e-4));
}

TEST_CASE("idx: Fashion-MNIST (gzipped) in /usr/share/datasets, when present") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fs::path(dir) / "train-labels-idx1-ubyte.gz") &&
      !fs::exists(fs::path(dir) / "train-labels-idx1-ubyte")) {
    MESSAGE("skipped: no Fashion-MNIST in " << dir);
    return;
  }
  idx::Folder f = idx::read_folder(dir);
  CHECK(f.train.images.shape() == Shape{60000, 28, 28});
  CHECK(f.test.images.shape() == Shape{10000, 28, 28});
  CHECK(f.test.labels.shape() == Shape{10000});
  CHECK(f.train.labels.at<int32_t>({0}) == 9);  // an ankle boot
}
