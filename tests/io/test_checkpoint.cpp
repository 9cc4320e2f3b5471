// Checkpoints: safetensors round trips (bit-exact, every dtype, 0-d and empty tensors), every
// dtype PyTorch writes (hand-built files) and its conversion, the PyTorch export, the
// file layout byte by byte, every kind of corrupt file refused with a message, atomic writes
// that never clobber the target, and a training run resumed from a checkpoint bit for bit.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "autograd/autograd.h"
#include "learner/io/checkpoint.h"
#include "nn/nn.h"
#include "tensor/creation.h"
#include "test_util.h"

using namespace tg;
using tg::test::error_of;
using tg::test::has;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp folder, removed with everything in it at the end.
using tg::test::same_bits;
using tg::test::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void put_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
// A safetensors file by hand: 8-byte little-endian length, the header as given, the data.
std::string st_bytes(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

// The error load_safetensors gives for a file made of these header and data bytes.
std::string load_error(const TempDir& tmp, const std::string& file_bytes) {
  std::string path = tmp / "bad.safetensors";
  put_file(path, file_bytes);
  std::string msg = error_of([&] { load_safetensors(path); });
  CHECK(has(msg, "load_safetensors: '" + path + "'"));
  return msg;
}

}  // namespace

TEST_CASE("checkpoint: safetensors round trip is bit-exact for every dtype and shape") {
  TempDir tmp;
  float nan_payload;
  uint32_t bits = 0x7fc01234;
  std::memcpy(&nan_payload, &bits, 4);
  TensorMap in{
      {"f32", from_vector<float>({1.5f, -0.0f, nan_payload, INFINITY, 1e-45f, -3.25f}, {2, 3})},
      {"f64", from_vector<double>({0.1, -1e300, 5e-324, 2.0 / 3}, {2, 1, 2})},
      {"i32", from_vector<int32_t>({INT32_MIN, -1, 0, INT32_MAX}, {4})},
      {"u8", from_vector<uint8_t>({0, 1, 127, 128, 255}, {5})},
      {"scalar", scalar_tensor(3.5, DType::f64)},
      {"empty", zeros({0, 3}, DType::i32)},
      {"empty_u8", zeros({2, 0}, DType::u8)}};
  std::string path = tmp / "all.safetensors";
  save_safetensors(path, in);
  Metadata meta{{"stale", "x"}};
  TensorMap out = load_safetensors(path, &meta);
  CHECK(meta.empty());
  CHECK(same_bits(in, out));
  CHECK(out.at("scalar").dim() == 0);
  CHECK(out.at("scalar").item<double>() == 3.5);
  CHECK(out.at("empty").shape() == Shape{0, 3});
  for (const auto& [k, t] : out) CHECK(t.is_contiguous());
  CHECK(tmp.names() == std::vector<std::string>{"all.safetensors"});  // no temp file left
}

TEST_CASE("checkpoint: the safetensors layout byte by byte") {
  TempDir tmp;
  std::string path = tmp / "tiny.safetensors";
  save_safetensors(path, {{"b", from_vector<uint8_t>({7, 8, 9}, {3})},
                          {"a", from_vector<int32_t>({1, -2}, {1, 2})}});
  std::string header = R"({"a":{"dtype":"I32","shape":[1,2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  REQUIRE(header.size() == 109);
  header += "   ";  // padded with spaces so the data starts at a multiple of 8
  std::string expect = std::string("\x70\0\0\0\0\0\0\0", 8) + header;
  expect += std::string("\x01\0\0\0\xfe\xff\xff\xff", 8) + "\x07\x08\x09";
  std::string got = read_file(path);
  CHECK(got == expect);
  CHECK((8 + got[0]) % 8 == 0);
  // With metadata: "__metadata__" comes first, and an empty metadata map is left out.
  save_safetensors(path, {{"x", zeros({0})}}, {{"epoch", "3"}});
  got = read_file(path);
  CHECK(got.substr(8, 61) == R"({"__metadata__":{"epoch":"3"},"x":{"dtype":"F32","shape":[0],)");
  CHECK((got.size() - 8) % 8 == 0);
}

TEST_CASE("checkpoint: a non-contiguous tensor is written contiguously") {
  TempDir tmp;
  Tensor x = arange(6).view({2, 3}).t();  // shape [3, 2], strides [1, 3]
  REQUIRE_FALSE(x.is_contiguous());
  nn::Linear lin(2, 2);  // a parameter that requires grad is saved too (detached)
  std::string path = tmp / "t.safetensors";
  save_safetensors(path, {{"xt", x}, {"w", lin.weight}});
  Tensor y = load_safetensors(path).at("xt");
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  std::string bytes = read_file(path);
  std::vector<float> tail(6);
  std::memcpy(tail.data(), bytes.data() + bytes.size() - 24, 24);  // "xt" sorts last
  CHECK(tail == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("checkpoint: metadata round trips, including unusual strings") {
  TempDir tmp;
  std::string path = tmp / "m.safetensors";
  Metadata meta{{"arch", "mlp[784,50,10]"},
                {"quote", "a\"b\\c\n"},
                {"utf8", "\xc3\xa9t\xc3\xa9"},
                {"empty", ""}};
  save_safetensors(path, {{"w", ones({2})}}, meta);
  Metadata back;
  load_safetensors(path, &back);
  CHECK(back == meta);
  put_file(path, st_bytes(R"({"__metadata__":{"k":1}})", ""));
  CHECK(has(error_of([&] { load_safetensors(path); }),
            "__metadata__ key 'k' must be a string, got 1"));
}

TEST_CASE("checkpoint: save refuses bad names and leaves an existing file untouched") {
  TempDir tmp;
  std::string path = tmp / "keep.safetensors";
  put_file(path, "old contents");
  CHECK(has(error_of([&] {
              save_safetensors(path, {{"", ones({1})}});
            }),
            "tensor name must not be empty"));
  CHECK(has(error_of([&] {
              save_safetensors(path, {{"__metadata__", ones({1})}});
            }),
            "'__metadata__' is reserved"));
  CHECK(has(error_of([&] {
              save_safetensors(path, {{"u", Tensor()}});
            }),
            "tensor 'u' is undefined"));
  CHECK(read_file(path) == "old contents");
  CHECK(tmp.names() == std::vector<std::string>{"keep.safetensors"});
}

TEST_CASE("checkpoint: truncated or empty files are refused") {
  TempDir tmp;
  CHECK(has(load_error(tmp, ""), "the file has 0 bytes, fewer than the 8"));
  CHECK(has(load_error(tmp, std::string("\x02\0\0\0", 4)), "the file has 4 bytes"));
  CHECK(has(load_error(tmp, st_bytes("{}", "").substr(0, 8) + "{"),
            "the header length 2 is larger than the rest of the file (1 bytes)"));
  std::string huge = st_bytes("{}", "");
  huge[7] = '\x7f';  // N near 2^63: must not overflow or allocate
  CHECK(has(load_error(tmp, huge), "is larger than the rest of the file"));
  CHECK(has(error_of([&] { load_safetensors(tmp / "missing.safetensors"); }),
            "cannot open '" + (tmp / "missing.safetensors") + "'"));
}

TEST_CASE("checkpoint: a header that is not a JSON object is refused") {
  TempDir tmp;
  CHECK(has(load_error(tmp, st_bytes("{not json}", "")), "header: invalid JSON at byte 2:"));
  CHECK(has(load_error(tmp, st_bytes("[1, 2]", "")), "the header must be an object, got [1,2]"));
  CHECK(has(load_error(tmp, st_bytes(R"({"w": 3})", "")), "tensor 'w' must be an object, got 3"));
  CHECK(has(load_error(tmp, st_bytes(R"({"a":{},"a":{}})", "")), "duplicate key \"a\""));
  CHECK(has(load_error(tmp, st_bytes(R"({"__metadata__":[]})", "")),
            "__metadata__ must be an object"));
}

TEST_CASE("checkpoint: bad tensor entries are refused naming the tensor") {
  TempDir tmp;
  auto entry = [&](const std::string& fields, const std::string& data) {
    return load_error(tmp, st_bytes(R"({"w":{)" + fields + "}}", data));
  };
  std::string d8(8, '\0');
  CHECK(has(entry(R"("dtype":"C64","shape":[1],"data_offsets":[0,8])", d8),
            "tensor 'w': dtype \"C64\" is not supported (F32, F64, I32, U8, F16, BF16,"));
  CHECK(has(entry(R"("dtype":7,"shape":[1],"data_offsets":[0,8])", d8),
            "tensor 'w': dtype must be a string, got 7"));
  CHECK(has(entry(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])", d8),
            "tensor 'w': shape[0] must be a non-negative integer, got -2"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])", d8),
            "tensor 'w': shape[0] must be a non-negative integer that fits in uint64"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0])", d8),
            "data_offsets must be two non-negative integers, got [0]"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2])", d8), "tensor 'w': missing 'data_offsets'"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1)", d8),
            "tensor 'w': unexpected key 'x'"));
  CHECK(has(entry(R"("dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1])", d8),
            "more than 8 dims"));
  CHECK(has(entry(R"("dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8])", d8),
            "is too large"));
}

TEST_CASE("checkpoint: offsets out of range, not matching the shape, or overlapping") {
  TempDir tmp;
  std::string d12(12, '\0');
  CHECK(has(
      load_error(tmp, st_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d12)),
      "tensor 'w': data_offsets [0,16] are out of range for a data section of 12 bytes"));
  CHECK(has(
      load_error(tmp, st_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", d12)),
      "are out of range"));
  CHECK(has(
      load_error(tmp, st_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", d12)),
      "tensor 'w': data_offsets [0,4] hold 4 bytes but shape [2] of F32 needs 8"));
  CHECK(has(load_error(tmp, st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                     d12)),
            "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)"));
  // An empty tensor may sit anywhere, even inside another tensor's range.
  put_file(tmp / "ok.safetensors",
           st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                    R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                    d12));
  CHECK(load_safetensors(tmp / "ok.safetensors").at("e").numel() == 0);
}

TEST_CASE("checkpoint: a file cut short in its data is refused") {
  TempDir tmp;
  std::string path = tmp / "cut.safetensors";
  save_safetensors(path, {{"w", ones({2, 3})}, {"z", ones({2}, DType::f64)}});
  std::string bytes = read_file(path);
  put_file(path, bytes.substr(0, bytes.size() - 5));
  std::string msg = error_of([&] { load_safetensors(path); });
  CHECK(has(msg, "tensor 'z': data_offsets [24,40] are out of range for a data section of 35"));
  CHECK(has(msg, "truncated file?"));
}

TEST_CASE("checkpoint: write_file_atomic replaces the target and leaves no temp file") {
  TempDir tmp;
  std::string path = tmp / "out.txt";
  write_file_atomic(path, "first");
  CHECK(read_file(path) == "first");
  std::string big(3'000'000, 'x');
  big[1'234'567] = 'y';
  write_file_atomic(path, big);
  CHECK(read_file(path) == big);
  write_file_atomic(path, "");
  CHECK(read_file(path).empty());
  CHECK(tmp.names() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("checkpoint: write_file_atomic into a missing folder or over a folder fails cleanly") {
  TempDir tmp;
  std::string missing = tmp / "no_such_dir/out.txt";
  std::string msg = error_of([&] { write_file_atomic(missing, "data"); });
  CHECK(has(msg, "write_file_atomic: cannot write '" + missing + "'"));
  CHECK(has(msg, "No such file or directory"));
  fs::create_directory(tmp.dir / "sub");
  put_file(tmp / "sub/inside.txt", "kept");
  msg = error_of([&] { write_file_atomic(tmp / "sub", "data"); });
  CHECK(has(msg, "renaming"));
  CHECK(read_file(tmp / "sub/inside.txt") == "kept");
  CHECK(tmp.names() == std::vector<std::string>{"sub"});  // the temp file was removed
}

TEST_CASE("checkpoint: a write that fails midway does not clobber the existing file") {
  TempDir tmp;
  std::string path = tmp / "keep.bin";
  put_file(path, "old contents");
  // A file-size limit makes write() fail with EFBIG (even as root); SIGXFSZ is ignored meanwhile.
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string msg = error_of([&] { write_file_atomic(path, std::string(1 << 20, 'n')); });
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  CHECK(has(msg, "cannot write '" + path + "': writing"));
  CHECK(has(msg, "File too large"));
  CHECK(read_file(path) == "old contents");
  CHECK(tmp.names() == std::vector<std::string>{"keep.bin"});
}

namespace {

struct Run {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<optim::SGD> opt;
  Run(uint64_t seed, double lr) {
    Generator gen(seed);
    model = nn::mlp({4, 8, 3}, gen);
    opt = std::make_unique<optim::SGD>(
        model->parameters(), optim::SGDOptions{.lr = lr, .momentum = 0.9, .weight_decay = 1e-3});
  }
  void steps(int n) {
    Generator gen(7);  // the same batch every time, in both runs
    Tensor x = randn({16, 4}, gen), y = randint(0, 3, {16}, gen);
    for (int i = 0; i < n; ++i) {
      opt->zero_grad();
      Tensor loss = cross_entropy((*model)(x), y);
      backward(loss);
      opt->step();
    }
  }
};

}  // namespace

TEST_CASE("checkpoint: model and SGD momentum state round trip bit-exact") {
  TempDir tmp;
  std::string path = tmp / "ckpt.safetensors";
  Run a(1, 0.1);
  a.steps(3);
  save_checkpoint(path, *a.model, a.opt.get(), {{"epoch", "3"}, {"arch", "4-8-3"}});
  Metadata raw;
  TensorMap file = load_safetensors(path, &raw);
  CHECK(raw.at("format") == "tapegrad-checkpoint-1");
  CHECK(file.count("model.0.weight"));
  CHECK(file.count("optim.state.0.0.momentum_buffer"));
  CHECK(file.count("optim.param_groups.0.lr"));
  Run b(99, 0.5);
  REQUIRE_FALSE(same_bits(a.model->state_dict(), b.model->state_dict()));
  Metadata meta = load_checkpoint(path, *b.model, b.opt.get());
  CHECK(meta == Metadata{{"epoch", "3"}, {"arch", "4-8-3"}});  // "format" is not returned
  CHECK(same_bits(a.model->state_dict(), b.model->state_dict()));
  CHECK(same_bits(a.opt->state_dict(), b.opt->state_dict()));
  CHECK(b.opt->get("lr") == 0.1);
}

TEST_CASE("checkpoint: training resumed from a checkpoint matches uninterrupted training") {
  TempDir tmp;
  std::string path = tmp / "mid.safetensors";
  Run a(1, 0.1);
  a.steps(3);
  save_checkpoint(path, *a.model, a.opt.get());
  a.steps(4);
  Run b(42, 0.3);
  load_checkpoint(path, *b.model, b.opt.get());
  b.steps(4);
  CHECK(same_bits(a.model->state_dict(), b.model->state_dict()));
  CHECK(same_bits(a.opt->state_dict(), b.opt->state_dict()));
}

TEST_CASE("checkpoint: loading into a different architecture names the key and shapes") {
  TempDir tmp;
  std::string path = tmp / "c.safetensors";
  Run a(1, 0.1);
  save_checkpoint(path, *a.model, a.opt.get());
  Generator gen(3);
  auto wider = nn::mlp({4, 16, 3}, gen);
  auto before = wider->state_dict();
  std::map<std::string, Tensor> snapshot;
  for (const auto& [k, t] : before) snapshot.emplace(k, t.clone());
  std::string msg = error_of([&] { load_checkpoint(path, *wider); });
  CHECK(has(msg, "load_checkpoint: '" + path + "': Module.load_state_dict"));
  CHECK(has(msg, "size mismatch for '0.weight': the model has [16, 4], the state dict has [8, 4]"));
  CHECK(same_bits(snapshot, wider->state_dict()));  // nothing was copied in
  auto deeper = nn::mlp({4, 8, 8, 3}, gen);
  CHECK(has(error_of([&] { load_checkpoint(path, *deeper); }), "missing keys: [4.weight, 4.bias]"));
}

TEST_CASE("checkpoint: an optimizer that does not fit leaves the model unchanged too") {
  TempDir tmp;
  std::string path = tmp / "o.safetensors";
  Run a(1, 0.1);
  a.steps(2);
  save_checkpoint(path, *a.model, a.opt.get());
  Generator gen(5);
  auto model = nn::mlp({4, 8, 3}, gen);
  std::map<std::string, Tensor> snapshot;
  for (const auto& [k, t] : model->state_dict()) snapshot.emplace(k, t.clone());
  auto params = model->parameters();
  optim::SGD half(std::vector<Tensor>{params[0], params[1]}, {.lr = 0.1, .momentum = 0.9});
  std::string msg = error_of([&] { load_checkpoint(path, *model, &half); });
  CHECK(has(msg, "load_checkpoint: '" + path + "': Optimizer.load_state_dict"));
  CHECK(same_bits(snapshot, model->state_dict()));
}

TEST_CASE("checkpoint: a file without optimizer state leaves the optimizer untouched") {
  TempDir tmp;
  std::string path = tmp / "m.safetensors";
  Run a(1, 0.1);
  a.steps(1);
  save_checkpoint(path, *a.model);  // no optimizer
  Run b(2, 0.5);
  b.steps(1);
  auto opt_before = b.opt->state_dict();
  load_checkpoint(path, *b.model, b.opt.get());
  CHECK(same_bits(a.model->state_dict(), b.model->state_dict()));
  CHECK(same_bits(opt_before, b.opt->state_dict()));
  CHECK(b.opt->get("lr") == 0.5);
}

TEST_CASE("checkpoint: plain safetensors files and foreign formats are not checkpoints") {
  TempDir tmp;
  Run a(1, 0.1);
  std::string plain = tmp / "plain.safetensors";
  TensorMap sd;
  for (const auto& [k, t] : a.model->state_dict()) sd.emplace("model." + k, t);
  save_safetensors(plain, sd);
  CHECK(has(error_of([&] { load_checkpoint(plain, *a.model); }),
            "load_checkpoint: '" + plain + "' is not a tapegrad checkpoint (no \"format\""));
  save_safetensors(plain, sd, {{"format", "pt"}});
  CHECK(has(error_of([&] { load_checkpoint(plain, *a.model); }),
            "has format \"pt\", expected \"tapegrad-checkpoint-1\""));
  save_safetensors(plain, {{"weights", ones({1})}}, {{"format", "tapegrad-checkpoint-1"}});
  CHECK(has(error_of([&] { load_checkpoint(plain, *a.model); }),
            "unexpected tensor 'weights' (neither model.* nor optim.*)"));
  CHECK(has(error_of([&] {
              save_checkpoint(plain, *a.model, nullptr, {{"format", "x"}});
            }),
            "the metadata key 'format' is reserved"));
}

// --- dtypes PyTorch writes, by hand-built files ---------------------------------------------

namespace {

// One tensor of a hand-built file: its name, safetensors dtype, shape (JSON) and raw bytes.
struct Raw {
  std::string name, dtype, shape, bytes;
};
std::string st_raw(const std::vector<Raw>& ts) {
  std::string header = "{", data;
  for (const Raw& t : ts) {
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + t.shape +
              ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  return st_bytes(header + "}", data);
}
// The little-endian bytes of values of type T.
template <typename T>
std::string le(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
TensorMap load_bytes(const TempDir& tmp, const std::string& bytes) {
  std::string path = tmp / "hand.safetensors";
  put_file(path, bytes);
  return load_safetensors(path);
}

}  // namespace

TEST_CASE("checkpoint: half, bfloat16 and float8 bit patterns convert to float32 exactly") {
  // (F16 bits, float32 bits), worked out by hand from the formats' definitions.
  const std::pair<uint16_t, uint32_t> f16[] = {
      {0x3c00, 0x3f800000},  // 1
      {0xc000, 0xc0000000},  // -2
      {0x3555, 0x3eaaa000},  // 0.333251953125
      {0x7bff, 0x477fe000},  // 65504, the largest half
      {0x0400, 0x38800000},  // 2^-14, the smallest normal
      {0x03ff, 0x387fc000},  // 1023 x 2^-24, the largest subnormal
      {0x0200, 0x38000000},  // 2^-15
      {0x0001, 0x33800000},  // 2^-24, the smallest subnormal
      {0x8001, 0xb3800000},  // -2^-24
      {0x0000, 0x00000000},  // +0
      {0x8000, 0x80000000},  // -0
      {0x7c00, 0x7f800000},  // inf
      {0xfc00, 0xff800000},  // -inf
      {0x7e00, 0x7fc00000},  // quiet NaN
      {0x7d01, 0x7fa02000},  // signalling NaN, payload kept
  };
  for (const auto& hf : f16) {  // not a structured binding: clang 14 cannot capture one
    const auto h = hf.first;
    const auto f = hf.second;
    CAPTURE(h);
    CHECK(bits_of(half_to_float(h)) == f);
  }
  CHECK(bits_of(bfloat16_to_float(0x3f80)) == 0x3f800000);
  CHECK(bits_of(bfloat16_to_float(0xc049)) == 0xc0490000);  // -3.140625
  CHECK(bits_of(bfloat16_to_float(0x0001)) == 0x00010000);  // a float32 subnormal
  CHECK(bits_of(bfloat16_to_float(0xff80)) == 0xff800000);
  CHECK(bits_of(bfloat16_to_float(0x7fc1)) == 0x7fc10000);
  CHECK(float8_e5m2_to_float(0x3c) == 1.0f);
  CHECK(float8_e5m2_to_float(0x01) == std::ldexp(1.0f, -16));
  CHECK(float8_e5m2_to_float(0x7c) == INFINITY);
  CHECK(std::isnan(float8_e5m2_to_float(0x7e)));
  CHECK(float8_e4m3_to_float(0x38) == 1.0f);
  CHECK(float8_e4m3_to_float(0x7e) == 448.0f);  // the largest E4M3FN
  CHECK(float8_e4m3_to_float(0x01) == std::ldexp(1.0f, -9));
  CHECK(float8_e4m3_to_float(0x08) == std::ldexp(1.0f, -6));
  CHECK(float8_e4m3_to_float(0xc4) == -3.0f);
  CHECK(bits_of(float8_e4m3_to_float(0x80)) == 0x80000000);
  CHECK(std::isnan(float8_e4m3_to_float(0x7f)));
  CHECK(std::isnan(float8_e4m3_to_float(0xff)));
}

TEST_CASE("checkpoint: F16, BF16 and float8 tensors load as float32") {
  TempDir tmp;
  TensorMap t =
      load_bytes(tmp, st_raw({{"h", "F16", "[2,2]", le<uint16_t>({0x3c00, 0x0001, 0xfc00, 0x7bff})},
                              {"b", "BF16", "[3]", le<uint16_t>({0x3f80, 0xc049, 0x0000})},
                              {"e4", "F8_E4M3", "[2]", le<uint8_t>({0x38, 0x7e})},
                              {"e5", "F8_E5M2", "[1]", le<uint8_t>({0x3c})}}));
  REQUIRE(t.at("h").dtype() == DType::f32);
  CHECK(t.at("h").shape() == Shape{2, 2});
  CHECK(t.at("h").to_vector<float>() ==
        std::vector<float>{1.0f, std::ldexp(1.0f, -24), -INFINITY, 65504.0f});
  CHECK(t.at("b").to_vector<float>() == std::vector<float>{1.0f, -3.140625f, 0.0f});
  CHECK(t.at("e4").to_vector<float>() == std::vector<float>{1.0f, 448.0f});
  CHECK(t.at("e5").to_vector<float>() == std::vector<float>{1.0f});
}

TEST_CASE("checkpoint: integer and BOOL dtypes load as int32 and uint8 when the values fit") {
  TempDir tmp;
  TensorMap t =
      load_bytes(tmp, st_raw({{"i64", "I64", "[4]", le<int64_t>({INT32_MIN, -1, 0, INT32_MAX})},
                              {"i16", "I16", "[2]", le<int16_t>({-32768, 32767})},
                              {"i8", "I8", "[3]", le<int8_t>({-128, 0, 127})},
                              {"u16", "U16", "[1]", le<uint16_t>({65535})},
                              {"u32", "U32", "[1]", le<uint32_t>({2147483647u})},
                              {"u64", "U64", "[1]", le<uint64_t>({5})},
                              {"i32", "I32", "[1]", le<int32_t>({-7})},
                              {"u8", "U8", "[2]", le<uint8_t>({0, 255})},
                              {"mask", "BOOL", "[3]", le<uint8_t>({0, 1, 1})}}));
  CHECK(t.at("i64").dtype() == DType::i32);
  CHECK(t.at("i64").to_vector<int32_t>() == std::vector<int32_t>{INT32_MIN, -1, 0, INT32_MAX});
  CHECK(t.at("i16").to_vector<int32_t>() == std::vector<int32_t>{-32768, 32767});
  CHECK(t.at("i8").to_vector<int32_t>() == std::vector<int32_t>{-128, 0, 127});
  CHECK(t.at("u16").to_vector<int32_t>() == std::vector<int32_t>{65535});
  CHECK(t.at("u32").to_vector<int32_t>() == std::vector<int32_t>{INT32_MAX});
  CHECK(t.at("u64").to_vector<int32_t>() == std::vector<int32_t>{5});
  CHECK(t.at("i32").to_vector<int32_t>() == std::vector<int32_t>{-7});
  CHECK(t.at("u8").to_vector<uint8_t>() == std::vector<uint8_t>{0, 255});
  CHECK(t.at("mask").dtype() == DType::u8);
  CHECK(t.at("mask").to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 1});
}

TEST_CASE("checkpoint: a value that does not fit, or a BOOL that is not 0/1, names the tensor") {
  TempDir tmp;
  auto one = [&](const Raw& r) { return load_error(tmp, st_raw({r})); };
  CHECK(
      has(one({"n", "I64", "[2]", le<int64_t>({1, 4294967296})}),
          "tensor 'n': value 4294967296 at index 1 does not fit in int32 (I64 is read as int32)"));
  CHECK(has(one({"n", "I64", "[1]", le<int64_t>({INT64_MIN})}), "value -9223372036854775808"));
  CHECK(has(one({"u", "U32", "[1]", le<uint32_t>({0x80000000u})}),
            "tensor 'u': value 2147483648 at index 0 does not fit in int32 (U32"));
  CHECK(has(one({"u", "U64", "[1]", le<uint64_t>({UINT64_MAX})}), "value 18446744073709551615"));
  CHECK(has(one({"m", "BOOL", "[2]", le<uint8_t>({1, 2})}),
            "tensor 'm': BOOL byte 2 at index 1 is neither 0 nor 1"));
}

TEST_CASE("checkpoint: an unknown dtype names the tensor and the dtype, not just the file") {
  TempDir tmp;
  std::string msg = load_error(tmp, st_raw({{"a.weight", "F32", "[1]", le<float>({1})},
                                            {"a.scale", "F8_E8M0", "[1]", le<uint8_t>({127})},
                                            {"b", "F16", "[1]", le<uint16_t>({0})}}));
  CHECK(has(msg, "tensor 'a.scale': dtype \"F8_E8M0\" is not supported ("));
  CHECK(has(msg, "I64"));  // the list of what is supported
  CHECK(has(load_error(tmp, st_raw({{"c", "C64", "[1]", le<float>({1, 2})}})),
            "tensor 'c': dtype \"C64\" is not supported"));
  // The byte length is checked with the dtype's own size.
  CHECK(has(load_error(tmp, st_raw({{"h", "F16", "[3]", le<uint16_t>({0, 0})}})),
            "tensor 'h': data_offsets [0,4] hold 4 bytes but shape [3] of F16 needs 6"));
  CHECK(has(load_error(tmp, st_raw({{"h", "I64", "[1]", le<int32_t>({0})}})),
            "hold 4 bytes but shape [1] of I64 needs 8"));
}

TEST_CASE("checkpoint: shapes whose strides would overflow int64 are refused even when empty") {
  TempDir tmp;
  CHECK(has(load_error(tmp, st_raw({{"e", "F32", "[0,4294967296,4294967296]", ""}})),
            "tensor 'e': shape [0,4294967296,4294967296] is too large"));
  CHECK(has(load_error(tmp, st_raw({{"e", "F32", "[9223372036854775808,0]", ""}})), "too large"));
  CHECK(load_bytes(tmp, st_raw({{"e", "F32", "[0,1000000]", ""}})).at("e").numel() == 0);
}

TEST_CASE("checkpoint: a PyTorch BatchNorm-like file with an I64 num_batches_tracked scalar") {
  TempDir tmp;
  TensorMap t =
      load_bytes(tmp, st_raw({{"1.weight", "F32", "[2]", le<float>({1, 1})},
                              {"1.bias", "F32", "[2]", le<float>({0, 0})},
                              {"1.running_mean", "F32", "[2]", le<float>({0.5f, -0.5f})},
                              {"1.running_var", "F32", "[2]", le<float>({1, 2})},
                              {"1.num_batches_tracked", "I64", "[]", le<int64_t>({100})}}));
  const Tensor& n = t.at("1.num_batches_tracked");
  CHECK(n.dim() == 0);
  CHECK(n.dtype() == DType::i32);
  CHECK(n.item<int32_t>() == 100);
  CHECK(t.at("1.running_var").to_vector<float>() == std::vector<float>{1, 2});
}

TEST_CASE("checkpoint: an F16 or F64 state dict loads into a float32 model, converted") {
  TempDir tmp;
  Generator gen(1);
  auto model = nn::mlp({2, 2, 1}, gen);
  // PyTorch's model.half() state dict: 1.5 is 0x3e00, -0.25 is 0xb400, 0.5 is 0x3800.
  TensorMap t = load_bytes(
      tmp, st_raw({{"0.weight", "F16", "[2,2]", le<uint16_t>({0x3e00, 0xb400, 0x3800, 0x3c00})},
                   {"0.bias", "F16", "[2]", le<uint16_t>({0x0000, 0x3800})},
                   {"2.weight", "F64", "[1,2]", le<double>({0.125, -2})},
                   {"2.bias", "F64", "[1]", le<double>({0.1})}}));
  model->load_state_dict(t);
  auto sd = model->state_dict();
  CHECK(sd.at("0.weight").dtype() == DType::f32);
  CHECK(sd.at("0.weight").to_vector<float>() == std::vector<float>{1.5f, -0.25f, 0.5f, 1.0f});
  CHECK(sd.at("2.weight").to_vector<float>() == std::vector<float>{0.125f, -2.0f});
  CHECK(sd.at("2.bias").to_vector<float>() == std::vector<float>{0.1f});  // rounded to float32
  // Through load_checkpoint too: "model.*" tensors of another dtype are converted.
  TensorMap file;
  for (const auto& [k, v] : t) file.emplace("model." + k, v.to(DType::f64));
  std::string path = tmp / "f64.safetensors";
  save_safetensors(path, file, {{"format", "tapegrad-checkpoint-1"}});
  Generator gen2(2);
  auto other = nn::mlp({2, 2, 1}, gen2);
  load_checkpoint(path, *other);
  CHECK(same_bits(other->state_dict(), model->state_dict()));
  // Shapes must still match exactly.
  file["model.2.bias"] = zeros({1, 1}, DType::f64);
  save_safetensors(path, file, {{"format", "tapegrad-checkpoint-1"}});
  CHECK(has(error_of([&] { load_checkpoint(path, *other); }), "size mismatch for '2.bias'"));
}

TEST_CASE("checkpoint: store_as writes I64 and BOOL, which load back as int32 and uint8") {
  TempDir tmp;
  std::string path = tmp / "i64.safetensors";
  save_safetensors(path,
                   {{"m", from_vector<uint8_t>({0, 1}, {2})}, {"n", scalar_tensor(-7, DType::i32)}},
                   {}, {{"m", "BOOL"}, {"n", "I64"}});
  std::string header = R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},)"
                       R"("n":{"dtype":"I64","shape":[],"data_offsets":[2,10]}})";
  std::string got = read_file(path);
  CHECK(got.substr(8, header.size()) == header);
  CHECK(got.substr(got.size() - 10) == le<uint8_t>({0, 1}) + le<int64_t>({-7}));
  TensorMap back = load_safetensors(path);
  CHECK(back.at("n").dtype() == DType::i32);
  CHECK(back.at("n").item<int32_t>() == -7);
  CHECK(back.at("m").to_vector<uint8_t>() == std::vector<uint8_t>{0, 1});
  auto err = [&](const TensorMap& t, const std::map<std::string, std::string>& as) {
    return error_of([&] { save_safetensors(path, t, {}, as); });
  };
  CHECK(has(err({{"x", ones({1})}}, {{"x", "I64"}}),
            "tensor 'x': only int32 and uint8 tensors can be stored as I64, got float32"));
  CHECK(has(err({{"x", ones({1})}}, {{"x", "F16"}}), "tensor 'x': cannot store as \"F16\""));
  CHECK(has(err({{"x", ones({1})}}, {{"y", "I64"}}), "store_as names 'y', which is not among"));
  CHECK(has(err({{"b", from_vector<uint8_t>({2}, {1})}}, {{"b", "BOOL"}}),
            "tensor 'b': BOOL needs 0 or 1, found 2"));
}

TEST_CASE("checkpoint: save refuses invalid UTF-8 in names and metadata") {
  TempDir tmp;
  std::string path = tmp / "u.safetensors";
  CHECK(has(error_of([&] {
              save_safetensors(path, {{"w\xff", ones({1})}});
            }),
            "save_safetensors: '" + path + "': header: cannot write JSON"));
  CHECK(has(error_of([&] {
              save_safetensors(path, {{"w", ones({1})}}, {{"k", "\xc3"}});
            }),
            "cannot write JSON"));
  CHECK(tmp.names().empty());
}

// --- export for PyTorch -------------------------------------------------------------------

namespace {
struct F64Net : nn::Module {
  F64Net() {
    register_parameter("w", from_vector<double>({0.1, -2}, {2}));
    register_module("inner", std::make_shared<nn::Linear>(1, 1));
  }
  Tensor forward(const Tensor& x) override { return x; }
};
}  // namespace

TEST_CASE("checkpoint: export_state_dict writes PyTorch's keys, float32, metadata apart") {
  TempDir tmp;
  Generator gen(1);
  auto model = nn::mlp({3, 4, 2}, gen);
  std::string path = tmp / "model.safetensors";
  export_state_dict(path, *model, {{"arch", "3-4-2"}});
  CHECK(tmp.names() == std::vector<std::string>{"model.safetensors"});  // atomic: no temp file
  Metadata meta;
  TensorMap t = load_safetensors(path, &meta);
  std::vector<std::string> keys;
  for (const auto& [k, v] : t) keys.push_back(k);
  // nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2)).state_dict().keys(), in name order.
  CHECK(keys == std::vector<std::string>{"0.bias", "0.weight", "2.bias", "2.weight"});
  CHECK(meta == Metadata{{"arch", "3-4-2"}});
  CHECK(same_bits(t, model->state_dict()));
  // The bytes: metadata first, then each tensor as F32 in name order, data back to back.
  std::string got = read_file(path);
  std::string header = R"({"__metadata__":{"arch":"3-4-2"},)"
                       R"("0.bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("0.weight":{"dtype":"F32","shape":[4,3],"data_offsets":[16,64]},)"
                       R"("2.bias":{"dtype":"F32","shape":[2],"data_offsets":[64,72]},)"
                       R"("2.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[72,104]}})";
  uint64_t n;
  std::memcpy(&n, got.data(), 8);
  CHECK(n == (header.size() + 7) / 8 * 8);
  CHECK(got.substr(8, header.size()) == header);
  std::string data;
  for (const char* k : {"0.bias", "0.weight", "2.bias", "2.weight"}) {
    Tensor p = model->state_dict().at(k);
    data.append(static_cast<const char*>(p.raw_data()), p.numel() * 4);
  }
  CHECK(got.substr(8 + n) == data);
  // The same model exports the same bytes.
  export_state_dict(tmp / "again.safetensors", *model, {{"arch", "3-4-2"}});
  CHECK(read_file(tmp / "again.safetensors") == got);
  // A float64 parameter is written as float32; nested modules get dotted names.
  F64Net net;
  export_state_dict(path, net);
  TensorMap f = load_safetensors(path);
  CHECK(f.at("w").dtype() == DType::f32);
  CHECK(f.at("w").to_vector<float>() == std::vector<float>{0.1f, -2.0f});
  CHECK(f.count("inner.weight") == 1);
  CHECK(has(error_of([&] {
              export_state_dict(path, *model, {{"format", "tapegrad-checkpoint-1"}});
            }),
            "export_state_dict: '" + path + "': an export is not a training checkpoint"));
}

// The PyTorch check (tests/io/torch_export_check.cmake) runs this case with TG_EXPORT_DIR set,
// then loads the files in torch: model.load_state_dict(load_file(...)) and the same forward.
TEST_CASE("checkpoint: export_state_dict output for the PyTorch check") {
  TempDir tmp;
  const char* env = std::getenv("TG_EXPORT_DIR");
  const std::string dir = env && *env ? std::string(env) : tmp.dir.string();
  Generator gen(3);
  auto model = nn::mlp({3, 4, 2}, gen);
  Tensor x = randn({5, 3}, gen);
  Tensor y;
  {
    NoGrad guard;
    y = (*model)(x);
  }
  export_state_dict(dir + "/export.safetensors", *model, {{"arch", "3-4-2"}});
  save_safetensors(dir + "/io.safetensors", {{"x", x}, {"y", y}});
  CHECK(load_safetensors(dir + "/export.safetensors").size() == 4);

  // The course CNN on 8x8 images, its BatchNorm buffers moved by three training forwards; the
  // check runs it in eval mode (the running statistics), as PyTorch's model.eval() does.
  auto cnn = nn::course_cnn(8, 8, {3, 4}, 5, gen);
  for (int i = 0; i < 3; ++i) (*cnn)(randn({6, 64}, gen) * 2.0 + 0.5);
  cnn->eval();
  Tensor xc = randn({4, 64}, gen), yc;
  {
    NoGrad guard;
    yc = (*cnn)(xc);
  }
  export_state_dict(dir + "/cnn.safetensors", *cnn, {{"channels", "3-4"}});
  save_safetensors(dir + "/cnn_io.safetensors", {{"x", xc}, {"y", yc}});
  CHECK(load_safetensors(dir + "/cnn.safetensors").size() == 14);  // 2 conv, 2 x 5 BN, 2 linear
}

TEST_CASE("checkpoint: a path that is not a regular file says what it is, and never blocks") {
  TempDir tmp;
  REQUIRE(::mkfifo((tmp / "fifo").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", tmp.dir / "zero");
  fs::create_directory(tmp.dir / "folder");
  CHECK(has(error_of([&] { load_safetensors(tmp / "fifo"); }),
            "load_safetensors: cannot open '" + (tmp / "fifo") +
                "': is a FIFO (named pipe), not a regular file"));
  CHECK(has(error_of([&] { load_safetensors("/dev/zero"); }),
            "cannot open '/dev/zero': is a character device, not a regular file"));
  CHECK(has(error_of([&] { load_safetensors(tmp / "zero"); }),
            "is a character device, not a regular file (a symlink to '/dev/zero')"));
  CHECK(has(error_of([&] { load_safetensors(tmp / "folder"); }),
            "cannot open '" + (tmp / "folder") + "': is a folder, not a file"));
  CHECK(has(error_of([&] { load_safetensors(tmp / "missing"); }),
            "cannot open '" + (tmp / "missing") + "': no such file"));
  nn::Linear model(2, 1);
  CHECK(has(error_of([&] { load_checkpoint(tmp / "fifo", model); }),
            "is a FIFO (named pipe), not a regular file"));
  CHECK(has(error_of([&] { load_checkpoint(tmp.str(), model); }), "is a folder, not a file"));
}

TEST_CASE(
    "checkpoint: BatchNorm's buffers round-trip; the export writes num_batches_tracked as I64") {
  TempDir tmp;
  Generator gen(5);
  auto make = [&] {
    return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(3, 2, true, gen), std::make_shared<nn::BatchNorm1d>(2)});
  };
  auto model = make();
  Tensor x = uniform({4, 3}, -1, 1, gen);
  (*model)(x);
  (*model)(x * 2.0);
  const auto& bn = dynamic_cast<const nn::BatchNorm1d&>((*model)[1]);
  CHECK(bn.num_batches_tracked.item<int32_t>() == 2);
  std::string path = tmp / "bn.ckpt";
  save_checkpoint(path, *model);
  auto fresh = make();
  const auto& bn2 = dynamic_cast<const nn::BatchNorm1d&>((*fresh)[1]);
  CHECK(bn2.num_batches_tracked.item<int32_t>() == 0);
  load_checkpoint(path, *fresh);
  CHECK(bn2.num_batches_tracked.item<int32_t>() == 2);
  CHECK(bn2.num_batches_tracked.dtype() == DType::i32);
  CHECK(same_bits(bn2.running_mean, bn.running_mean));
  CHECK(same_bits(bn2.running_var, bn.running_var));
  CHECK(same_bits(fresh->state_dict(), model->state_dict()));
  model->eval();
  fresh->eval();
  CHECK(same_bits((*fresh)(x), (*model)(x)));
  // The export stores the counter as PyTorch's int64; it reads back into int32.
  std::string exported = tmp / "bn.safetensors";
  export_state_dict(exported, *model);
  CHECK(has(read_file(exported),
            R"("1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":)"));
  TensorMap t = load_safetensors(exported);
  CHECK(t.at("1.num_batches_tracked").dtype() == DType::i32);
  CHECK(t.at("1.num_batches_tracked").item<int32_t>() == 2);
  CHECK(t.at("1.running_var").dtype() == DType::f32);
}
