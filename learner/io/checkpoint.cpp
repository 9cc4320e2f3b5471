// Checkpoints: safetensors files (header JSON + raw little-endian bytes) written atomically, and
// read back by validating every header field against the file before touching the data, since a
// checkpoint may come from anywhere. A training checkpoint is a safetensors file with
// "model.*" and "optim.*" tensors and "format": "tapegrad-checkpoint-1" in its metadata.
#include "learner/io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "learner/io/json.h"
#include "tensor/grad_mode.h"

namespace tg {

static_assert(
    std::endian::native == std::endian::little,
    "safetensors stores little-endian bytes; tapegrad writes the host's bytes as they are");

namespace {

constexpr const char* kFormat = "tapegrad-checkpoint-1";
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit

const char* st_dtype(DType d) {
  switch (d) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::i32:
      return "I32";
    case DType::u8:
      return "U8";
  }
  TG_FAIL("save_safetensors", "unknown dtype");
}

bool parse_st_dtype(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", DType::f32}, {"F64", DType::f64}, {"I32", DType::i32}, {"U8", DType::u8}};
  for (const auto& [name, d] : table)
    if (s == name) return out = d, true;
  return false;
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta) {
  const char* op = "save_safetensors";
  NoGrad guard;  // contiguous() and to() refuse tensors that require grad while recording
  std::vector<Tensor> data;
  Json header = Json::object();
  if (!meta.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : meta) m.set(k, v);
    header.set("__metadata__", std::move(m));
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TG_CHECK(!name.empty(), op, "'", path, "': a tensor name must not be empty");
    TG_CHECK(name != "__metadata__", op, "'", path, "': '__metadata__' is reserved");
    TG_CHECK(t.defined(), op, "'", path, "': tensor '", name, "' is undefined");
    Tensor c = t.detach().to(Device::cpu()).contiguous();
    uint64_t bytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    Json shape = Json::array();
    for (int64_t d : c.shape()) shape.push(d);
    header.set(name, Json::object()
                         .set("dtype", st_dtype(c.dtype()))
                         .set("shape", std::move(shape))
                         .set("data_offsets", Json::array().push(offset).push(offset + bytes)));
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  std::string file(8, '\0');
  uint64_t n = json.size();
  std::memcpy(file.data(), &n, 8);
  file.reserve(8 + json.size() + offset);
  file += json;
  for (const Tensor& c : data)
    file.append(static_cast<const char*>(c.raw_data()), c.numel() * dtype_size(c.dtype()));
  write_file_atomic(path, file);
}

namespace {

std::string read_whole_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  TG_CHECK(in, op, "cannot open '", path, "': ", errno_text());
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TG_CHECK(!in.bad(), op, "error reading '", path, "'");
  return s;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// One tensor's header entry, checked against the data section's size.
Entry parse_entry(const std::string& name, const Json& j, uint64_t data_size, const char* op,
                  const std::string& path) {
  auto bad = [&](const auto&... why) {
    TG_FAIL(op, "'", path, "': tensor '", name, "': ", why...);
  };
  if (!j.is_object()) bad("expected an object, got ", Json::type_name(j.type()));
  for (const auto& [k, v] : j.as_object())
    if (k != "dtype" && k != "shape" && k != "data_offsets") bad("unexpected key '", k, "'");
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!j.contains(k)) bad("missing '", k, "'");
  Entry e{name, DType::f32, {}, 0, 0};
  const Json& dt = j.at("dtype");
  if (!dt.is_string() || !parse_st_dtype(dt.as_string(), e.dtype))
    bad("dtype ", dt.dump(), " is not supported (F32, F64, I32, U8)");
  const Json& sh = j.at("shape");
  if (!sh.is_array()) bad("shape must be an array, got ", sh.dump());
  if (sh.size() > static_cast<size_t>(kernels::kMaxDims))
    bad("shape ", sh.dump(), " has more than ", kernels::kMaxDims, " dims");
  uint64_t numel = 1;
  for (const Json& d : sh.as_array()) {
    if (!d.is_int() || d.as_int() < 0) bad("shape ", sh.dump(), " must hold non-negative ints");
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d.as_int()), &numel))
      bad("shape ", sh.dump(), " is too large");
    e.shape.push_back(d.as_int());
  }
  const Json& off = j.at("data_offsets");
  if (!off.is_array() || off.size() != 2 || !off.at(0).is_int() || !off.at(1).is_int() ||
      off.at(0).as_int() < 0 || off.at(1).as_int() < 0)
    bad("data_offsets must be two non-negative ints, got ", off.dump());
  e.begin = static_cast<uint64_t>(off.at(0).as_int());
  e.end = static_cast<uint64_t>(off.at(1).as_int());
  if (e.begin > e.end || e.end > data_size)
    bad("data_offsets ", off.dump(), " are out of range for a data section of ", data_size,
        " bytes (truncated file?)");
  uint64_t want = 0;
  if (__builtin_mul_overflow(numel, dtype_size(e.dtype), &want) || e.end - e.begin != want)
    bad("data_offsets ", off.dump(), " hold ", e.end - e.begin, " bytes but shape ", sh.dump(),
        " of ", dt.as_string(), " needs ", want);
  return e;
}

}  // namespace

TensorMap load_safetensors(const std::string& path, Metadata* meta) {
  const char* op = "load_safetensors";
  std::string file = read_whole_file(path, op);
  TG_CHECK(file.size() >= 8, op, "'", path, "': the file has ", file.size(),
           " bytes, fewer than the 8 of the header length");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  TG_CHECK(n <= file.size() - 8, op, "'", path, "': the header length ", n,
           " is larger than the rest of the file (", file.size() - 8, " bytes)");
  TG_CHECK(n <= kMaxHeader, op, "'", path, "': the header length ", n, " exceeds the limit of ",
           kMaxHeader, " bytes");
  Json header;
  try {
    header = Json::parse(std::string_view(file).substr(8, n));
  } catch (const Error& e) {
    TG_FAIL(op, "'", path, "': the header is not valid JSON: ", e.what());
  }
  TG_CHECK(header.is_object(), op, "'", path, "': the header must be a JSON object, got ",
           Json::type_name(header.type()));
  const uint64_t data_at = 8 + n, data_size = file.size() - data_at;
  Metadata md;
  std::vector<Entry> entries;
  for (const auto& [name, j] : header.as_object()) {
    if (name != "__metadata__") {
      entries.push_back(parse_entry(name, j, data_size, op, path));
      continue;
    }
    TG_CHECK(j.is_object(), op, "'", path, "': __metadata__ must be an object, got ", j.dump());
    for (const auto& [k, v] : j.as_object()) {
      TG_CHECK(v.is_string(), op, "'", path, "': __metadata__ key '", k,
               "' must have a string value, got ", v.dump());
      md[k] = v.as_string();
    }
  }
  // Overlap check on the non-empty ranges, sorted by where they begin.
  std::vector<const Entry*> order;
  for (const Entry& e : entries)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    TG_CHECK(order[i]->begin >= order[i - 1]->end, op, "'", path, "': tensor '", order[i]->name,
             "' (bytes ", order[i]->begin, "..", order[i]->end, ") overlaps tensor '",
             order[i - 1]->name, "' (bytes ", order[i - 1]->begin, "..", order[i - 1]->end, ")");
  TensorMap out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin)
      std::memcpy(t.raw_data(), file.data() + data_at + e.begin, e.end - e.begin);
    out.emplace(e.name, std::move(t));
  }
  if (meta) *meta = std::move(md);
  return out;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* opt,
                     const Metadata& meta) {
  auto it = meta.find("format");
  TG_CHECK(it == meta.end() || it->second == kFormat, "save_checkpoint", "'", path,
           "': the metadata key 'format' is reserved for \"", kFormat, "\", got \"",
           it == meta.end() ? "" : it->second, "\"");
  TensorMap tensors;
  for (auto& [k, t] : model.state_dict()) tensors.emplace("model." + k, t);
  if (opt)
    for (auto& [k, t] : opt->state_dict()) tensors.emplace("optim." + k, t);
  Metadata m = meta;
  m["format"] = kFormat;
  save_safetensors(path, tensors, m);
}

void export_state_dict(const std::string& path, const nn::Module& model, const Metadata& meta) {
  save_safetensors(path, model.state_dict(), meta);
}

Metadata load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* opt) {
  const char* op = "load_checkpoint";
  Metadata meta;
  TensorMap tensors = load_safetensors(path, &meta);
  auto it = meta.find("format");
  TG_CHECK(it != meta.end(), op, "'", path, "' is not a tapegrad checkpoint (no \"format\" in ",
           "its metadata; load it with load_safetensors)");
  TG_CHECK(it->second == kFormat, op, "'", path, "' has format \"", it->second, "\", expected \"",
           kFormat, "\"");
  meta.erase(it);
  nn::StateDict model_sd;
  std::map<std::string, Tensor> optim_sd;
  for (auto& [k, t] : tensors) {
    if (k.starts_with("model."))
      model_sd.emplace(k.substr(6), std::move(t));
    else if (k.starts_with("optim."))
      optim_sd.emplace(k.substr(6), std::move(t));
    else
      TG_FAIL(op, "'", path, "': unexpected tensor '", k, "' (neither model.* nor optim.*)");
  }
  // Either both load or neither changes: the model is restored when the optimizer refuses.
  nn::StateDict before;
  if (opt && !optim_sd.empty()) {
    NoGrad guard;
    for (auto& [k, t] : model.state_dict()) before.emplace(k, t.clone());
  }
  try {
    model.load_state_dict(model_sd, true);
  } catch (const Error& e) {
    TG_FAIL(op, "'", path, "': ", e.what());
  }
  if (opt && !optim_sd.empty()) {
    try {
      opt->load_state_dict(optim_sd);
    } catch (const Error& e) {
      model.load_state_dict(before, true);
      TG_FAIL(op, "'", path, "': ", e.what());
    }
  }
  return meta;
}

}  // namespace tg
