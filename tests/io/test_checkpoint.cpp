// Checkpoints: safetensors round trips (bit-exact, every dtype, 0-d and empty tensors), the
// file layout byte by byte, every kind of corrupt file refused with a message, atomic writes
// that never clobber the target, and a training run resumed from a checkpoint bit for bit.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
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
            "__metadata__ key 'k' must have a string value, got 1"));
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
  CHECK(has(load_error(tmp, st_bytes("{not json}", "")),
            "the header is not valid JSON: Json.parse: at byte 1: expected a string key"));
  CHECK(has(load_error(tmp, st_bytes("[1, 2]", "")), "must be a JSON object, got array"));
  CHECK(has(load_error(tmp, st_bytes(R"({"w": 3})", "")), "tensor 'w': expected an object"));
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
  CHECK(has(entry(R"("dtype":"F16","shape":[4],"data_offsets":[0,8])", d8),
            "tensor 'w': dtype \"F16\" is not supported (F32, F64, I32, U8)"));
  CHECK(has(entry(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])", d8),
            "tensor 'w': shape [-2] must hold non-negative ints"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2.5],"data_offsets":[0,8])", d8),
            "must hold non-negative ints"));
  CHECK(has(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0])", d8),
            "data_offsets must be two non-negative ints, got [0]"));
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
