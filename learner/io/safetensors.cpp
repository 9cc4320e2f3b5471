// safetensors reading and writing (the format and the dtype conversions are in safetensors.h).
// A file may come from anywhere, so the reader checks every header field before it touches
// the data, and converts element by element with memcpy (the data need not be aligned).
#include "learner/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/file.h"
#include "base/format.h"
#include "base/json.h"
#include "base/memory.h"
#include "kernels/strided.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"

namespace tg {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian bytes; tapegrad reads and writes the host's bytes "
              "as they are");

using nlohmann::json;
using nlohmann::ordered_json;

// --- element conversions ------------------------------------------------------------------

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, or NaN with its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: mant x 2^-24. Shift the leading 1 up to bit 10 (s places); the value is then
    // 1.m x 2^(-14 - s), a normal float32.
    uint32_t s = 0;
    for (uint32_t m = mant; !(m & 0x400); m <<= 1) ++s;
    bits = sign | ((127 - 14 - s) << 23) | (((mant << s) & 0x3ff) << 13);
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);  // bfloat16 is float32's top half
}

float float8_e5m2_to_float(uint8_t b) {
  return half_to_float(static_cast<uint16_t>(b << 8));  // E5M2 is float16's top byte
}

float float8_e4m3_to_float(uint8_t b) {
  // float8_e4m3fn: bias 7, 3 mantissa bits, no infinities; S.1111.111 is NaN.
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  const int exp = (b >> 3) & 0xf, mant = b & 0x7;
  if (exp == 0xf && mant == 0x7) return sign * std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -9);  // mant/8 x 2^-6
  return sign * std::ldexp(static_cast<float>(8 + mant), exp - 7 - 3);
}

namespace {

constexpr const char* kLoad = "load_safetensors";
constexpr const char* kSave = "save_safetensors";
constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit

// How a file dtype becomes one of tapegrad's.
enum class Conv { copy, f16, bf16, f8_e4m3, f8_e5m2, signed_int, unsigned_int, boolean };
struct FileDType {
  const char* name;
  uint64_t size;  // bytes per element in the file
  DType to;
  Conv conv;
};
constexpr FileDType kFileDTypes[] = {
    {"F32", 4, DType::f32, Conv::copy},         {"F64", 8, DType::f64, Conv::copy},
    {"I32", 4, DType::i32, Conv::copy},         {"U8", 1, DType::u8, Conv::copy},
    {"F16", 2, DType::f32, Conv::f16},          {"BF16", 2, DType::f32, Conv::bf16},
    {"F8_E4M3", 1, DType::f32, Conv::f8_e4m3},  {"F8_E5M2", 1, DType::f32, Conv::f8_e5m2},
    {"I64", 8, DType::i32, Conv::signed_int},   {"I16", 2, DType::i32, Conv::signed_int},
    {"I8", 1, DType::i32, Conv::signed_int},    {"U64", 8, DType::i32, Conv::unsigned_int},
    {"U32", 4, DType::i32, Conv::unsigned_int}, {"U16", 2, DType::i32, Conv::unsigned_int},
    {"BOOL", 1, DType::u8, Conv::boolean},
};

const FileDType* find_file_dtype(const std::string& name) {
  for (const FileDType& d : kFileDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string supported_dtypes() {
  std::string s;
  for (const FileDType& d : kFileDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

// Element i of n-byte little-endian integers at p, zero- or sign-extended.
uint64_t read_uint(const char* p, uint64_t n, int64_t i) {
  uint64_t u = 0;
  std::memcpy(&u, p + i * n, n);
  return u;
}
int64_t read_int(const char* p, uint64_t n, int64_t i) {
  const int shift = static_cast<int>(64 - 8 * n);
  return static_cast<int64_t>(read_uint(p, n, i) << shift) >> shift;
}

template <typename Out, typename F>
void convert_each(Tensor& t, const char* src, uint64_t n, F f) {
  Out* out = t.data<Out>();
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = f(src, n, i);
}

// Fills t (already of fd.to and the right shape) from the file's bytes at src.
void convert(Tensor& t, const char* src, const FileDType& fd, const std::string& where) {
  const uint64_t n = fd.size;
  auto u16 = [](const char* p, uint64_t, int64_t i) {
    uint16_t v;
    std::memcpy(&v, p + 2 * i, 2);
    return v;
  };
  auto u8 = [](const char* p, int64_t i) { return static_cast<uint8_t>(p[i]); };
  auto too_big = [&](auto v, int64_t i) {
    TG_FAIL(kLoad, where, ": value ", v, " at index ", i, " does not fit in int32 (", fd.name,
            " is read as int32)");
  };
  switch (fd.conv) {
    case Conv::copy:
      std::memcpy(t.raw_data(), src, t.numel() * n);
      return;
    case Conv::f16:
      return convert_each<float>(
          t, src, n, [&](auto p, auto m, auto i) { return half_to_float(u16(p, m, i)); });
    case Conv::bf16:
      return convert_each<float>(
          t, src, n, [&](auto p, auto m, auto i) { return bfloat16_to_float(u16(p, m, i)); });
    case Conv::f8_e4m3:
      return convert_each<float>(
          t, src, n, [&](auto p, auto, auto i) { return float8_e4m3_to_float(u8(p, i)); });
    case Conv::f8_e5m2:
      return convert_each<float>(
          t, src, n, [&](auto p, auto, auto i) { return float8_e5m2_to_float(u8(p, i)); });
    case Conv::signed_int:
      return convert_each<int32_t>(t, src, n, [&](auto p, auto m, auto i) {
        int64_t v = read_int(p, m, i);
        if (v < INT32_MIN || v > INT32_MAX) too_big(v, i);
        return static_cast<int32_t>(v);
      });
    case Conv::unsigned_int:
      return convert_each<int32_t>(t, src, n, [&](auto p, auto m, auto i) {
        uint64_t v = read_uint(p, m, i);
        if (v > static_cast<uint64_t>(INT32_MAX)) too_big(v, i);
        return static_cast<int32_t>(v);
      });
    case Conv::boolean:
      return convert_each<uint8_t>(t, src, n, [&](auto p, auto, auto i) {
        uint8_t v = u8(p, i);
        TG_CHECK(v <= 1, kLoad, where, ": BOOL byte ", int(v), " at index ", i,
                 " is neither 0 nor 1");
        return v;
      });
  }
}

// --- reading ------------------------------------------------------------------------------

struct Entry {
  std::string name;
  const FileDType* dtype;
  Shape shape;
  uint64_t begin, end;
};

// One tensor's header entry, checked against the data section's size.
Entry parse_entry(const std::string& name, const json& j, uint64_t data_size,
                  const std::string& path) {
  const std::string where = "'" + path + "': tensor '" + name + "'";
  auto bad = [&](const auto&... why) { TG_FAIL(kLoad, where, ": ", why...); };
  const json::object_t& obj = json_object(j, kLoad, where);
  for (const auto& [k, v] : obj)
    if (k != "dtype" && k != "shape" && k != "data_offsets") bad("unexpected key '", k, "'");
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!obj.count(k)) bad("missing '", k, "'");
  Entry e{name, nullptr, {}, 0, 0};
  const std::string& dt = json_string(obj.at("dtype"), kLoad, where + ": dtype");
  e.dtype = find_file_dtype(dt);
  if (!e.dtype) bad("dtype \"", dt, "\" is not supported (", supported_dtypes(), ")");
  const json& sh = obj.at("shape");
  const json::array_t& dims = json_array(sh, kLoad, where + ": shape");
  if (dims.size() > static_cast<size_t>(kernels::kMaxDims))
    bad("shape ", sh.dump(), " has more than ", kernels::kMaxDims, " dims");
  // numel counts the bytes; extent (the product of the non-zero sizes) bounds the strides, which
  // must fit in int64 even when a zero size makes the tensor empty.
  uint64_t numel = 1, extent = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    uint64_t d = json_uint64(dims[i], kLoad, where + ": shape[" + std::to_string(i) + "]");
    if (__builtin_mul_overflow(extent, std::max<uint64_t>(d, 1), &extent) ||
        extent > static_cast<uint64_t>(INT64_MAX))
      bad("shape ", sh.dump(), " is too large");
    numel *= d;  // <= extent
    e.shape.push_back(static_cast<int64_t>(d));
  }
  const json& off = obj.at("data_offsets");
  if (!off.is_array() || off.size() != 2)
    bad("data_offsets must be two non-negative integers, got ", off.dump());
  e.begin = json_uint64(off[0], kLoad, where + ": data_offsets[0]");
  e.end = json_uint64(off[1], kLoad, where + ": data_offsets[1]");
  if (e.begin > e.end || e.end > data_size)
    bad("data_offsets ", off.dump(), " are out of range for a data section of ", data_size,
        " bytes (truncated file?)");
  uint64_t want = 0;
  if (__builtin_mul_overflow(numel, e.dtype->size, &want) || e.end - e.begin != want)
    bad("data_offsets ", off.dump(), " hold ", e.end - e.begin, " bytes but shape ", sh.dump(),
        " of ", dt, " needs ", want);
  return e;
}

}  // namespace

namespace {

// The 8-byte header length, checked against the file's size and the limit.
uint64_t header_length(const char* first8, uint64_t size, const std::string& path) {
  TG_CHECK(size >= 8, kLoad, "'", path, "': the file has ", size,
           " bytes, fewer than the 8 of the header length");
  uint64_t n = 0;
  std::memcpy(&n, first8, 8);
  TG_CHECK(n <= size - 8, kLoad, "'", path, "': the header length ", n,
           " is larger than the rest of the file (", size - 8, " bytes)");
  TG_CHECK(n <= kMaxHeader, kLoad, "'", path, "': the header length ", n, " exceeds the limit of ",
           kMaxHeader, " bytes");
  return n;
}

struct Header {
  std::vector<Entry> entries;
  Metadata meta;
  uint64_t tensor_bytes = 0;  // of the tensors once converted
};

// Every check on the header, against a data section of data_size bytes, before any data is
// touched: entries, overlaps, and no bytes after the last tensor's.
Header parse_header(std::string_view text, uint64_t data_size, const std::string& path) {
  const json header = parse_json(text, std::string(kLoad) + ": '" + path + "': header");
  const json::object_t& top = json_object(header, kLoad, "'" + path + "': the header");
  Header h;
  for (const auto& [name, j] : top) {
    if (name != "__metadata__") {
      h.entries.push_back(parse_entry(name, j, data_size, path));
      continue;
    }
    for (const auto& [k, v] : json_object(j, kLoad, "'" + path + "': __metadata__"))
      h.meta[k] = json_string(v, kLoad, "'" + path + "': __metadata__ key '" + k + "'");
  }
  // Overlap check on the non-empty ranges, sorted by where they begin.
  std::vector<const Entry*> order;
  for (const Entry& e : h.entries)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    TG_CHECK(order[i]->begin >= order[i - 1]->end, kLoad, "'", path, "': tensor '", order[i]->name,
             "' (bytes ", order[i]->begin, "..", order[i]->end, ") overlaps tensor '",
             order[i - 1]->name, "' (bytes ", order[i - 1]->begin, "..", order[i - 1]->end, ")");
  uint64_t data_end = 0;
  for (const Entry& e : h.entries) {
    data_end = std::max(data_end, e.end);
    uint64_t bytes = 0;
    if (__builtin_mul_overflow((e.end - e.begin) / e.dtype->size, dtype_size(e.dtype->to),
                               &bytes) ||
        __builtin_add_overflow(h.tensor_bytes, bytes, &h.tensor_bytes))
      h.tensor_bytes = UINT64_MAX;  // more than any machine: refused by load_safetensors
  }
  TG_CHECK(data_end == data_size, kLoad, "'", path, "': ", data_size - data_end,
           " bytes after the last tensor's data: the header accounts for ", data_end,
           " of the file's ", data_size, " data bytes");
  return h;
}

TensorMap build_tensors(const Header& h, const char* data, const std::string& path) {
  TensorMap out;
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype->to);
    if (e.end > e.begin)
      convert(t, data + e.begin, *e.dtype, "'" + path + "': tensor '" + e.name + "'");
    out.emplace(e.name, std::move(t));
  }
  return out;
}

void read_exact(InputFile& f, char* p, size_t n, const std::string& path) {
  const size_t got = n == 0 ? 0 : f.read(p, n);
  TG_CHECK(got == n, kLoad, "'", path, "': the file got shorter while it was read (", got, " of ",
           n, " more bytes)");
}

}  // namespace

TensorMap parse_safetensors(const std::string& file, const std::string& path, Metadata* meta) {
  const uint64_t n = header_length(file.data(), file.size(), path);
  Header h = parse_header(std::string_view(file).substr(8, n), file.size() - 8 - n, path);
  TensorMap out = build_tensors(h, file.data() + 8 + n, path);
  if (meta) *meta = std::move(h.meta);
  return out;
}

// The header is read and checked first, against the file's size (a sparse or padded file is
// refused from its size) and the memory this machine has available (the data section plus the
// tensors), before the data section is read.
namespace {

// Opens path and reads and checks its header (every check parse_header makes, against the
// file's size); f is left at the start of the data section.
Header read_header(InputFile& f, const std::string& path, uint64_t* data_size) {
  const uint64_t size = f.size();
  char first8[8] = {};
  read_exact(f, first8, size_t(std::min<uint64_t>(size, 8)), path);
  const uint64_t n = header_length(first8, size, path);
  std::string text(size_t(n), '\0');
  read_exact(f, text.data(), text.size(), path);
  *data_size = size - 8 - n;
  return parse_header(text, *data_size, path);
}

}  // namespace

Metadata read_safetensors_metadata(const std::string& path) {
  InputFile f(kLoad, path);
  uint64_t data_size = 0;
  return read_header(f, path, &data_size).meta;
}

TensorMap load_safetensors(const std::string& path, Metadata* meta) {
  InputFile f(kLoad, path);
  uint64_t data_size = 0;
  Header h = read_header(f, path, &data_size);
  const MemoryAvailable m = available_memory();
  uint64_t need = 0;
  if (__builtin_add_overflow(data_size, h.tensor_bytes, &need)) need = UINT64_MAX;
  if (m.known() && need > static_cast<uint64_t>(m.bytes))
    TG_FAIL(kLoad, "'", path, "': loading it needs about ",
            need > uint64_t(INT64_MAX) ? std::string("more than 8 EiB")
                                       : bytes(static_cast<int64_t>(need)),
            " (", bytes(static_cast<int64_t>(data_size)), " of data and ",
            bytes(static_cast<int64_t>(h.tensor_bytes)), " of tensors), more than the ",
            bytes(m.bytes), " this machine has available (", m.source, ")");
  std::string data(size_t(data_size), '\0');
  read_exact(f, data.data(), data.size(), path);
  TensorMap out = build_tensors(h, data.data(), path);
  if (meta) *meta = std::move(h.meta);
  return out;
}

// --- writing ------------------------------------------------------------------------------

namespace {

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
  TG_FAIL(kSave, "unknown dtype");
}

// One tensor as written: its safetensors dtype and the bytes to append.
struct Out {
  std::string dtype;
  Tensor t;             // contiguous, on the CPU
  uint64_t elem_bytes;  // in the file
};

Out prepare(const std::string& path, const std::string& name, const Tensor& src,
            const std::map<std::string, std::string>& store_as) {
  Tensor c = src.detach().to(Device::cpu()).contiguous();
  auto it = store_as.find(name);
  if (it == store_as.end()) return {st_dtype(c.dtype()), c, dtype_size(c.dtype())};
  const std::string& as = it->second;
  if (as == "I64") {
    TG_CHECK(c.dtype() == DType::i32 || c.dtype() == DType::u8, kSave, "'", path, "': tensor '",
             name, "': only int32 and uint8 tensors can be stored as I64, got ",
             dtype_name(c.dtype()));
    return {as, c.to(DType::i32), 8};
  }
  if (as == "BOOL") {
    TG_CHECK(c.dtype() == DType::u8, kSave, "'", path, "': tensor '", name,
             "': only uint8 tensors can be stored as BOOL, got ", dtype_name(c.dtype()));
    for (uint8_t v : c.to_vector<uint8_t>())
      TG_CHECK(v <= 1, kSave, "'", path, "': tensor '", name, "': BOOL needs 0 or 1, found ",
               int(v));
    return {as, c, 1};
  }
  TG_FAIL(kSave, "'", path, "': tensor '", name, "': cannot store as \"", as,
          "\" (I64 or BOOL; others are written in their own dtype)");
}

void append_bytes(std::string& file, const Out& o) {
  if (o.elem_bytes == dtype_size(o.t.dtype())) {
    file.append(static_cast<const char*>(o.t.raw_data()), o.t.numel() * o.elem_bytes);
    return;
  }
  const int32_t* v = o.t.data<int32_t>();  // I64 from int32
  for (int64_t i = 0; i < o.t.numel(); ++i) {
    int64_t w = v[i];
    file.append(reinterpret_cast<const char*>(&w), 8);
  }
}

}  // namespace

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta,
                      const std::map<std::string, std::string>& store_as) {
  NoGrad guard;  // contiguous() and to() refuse tensors that require grad while recording
  for (const auto& [name, as] : store_as)
    TG_CHECK(tensors.count(name), kSave, "'", path, "': store_as names '", name,
             "', which is not among the tensors");
  ordered_json header = ordered_json::object();
  if (!meta.empty()) header["__metadata__"] = meta;
  std::vector<Out> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TG_CHECK(!name.empty(), kSave, "'", path, "': a tensor name must not be empty");
    TG_CHECK(name != "__metadata__", kSave, "'", path, "': '__metadata__' is reserved");
    TG_CHECK(t.defined(), kSave, "'", path, "': tensor '", name, "' is undefined");
    Out o = prepare(path, name, t, store_as);
    const uint64_t bytes = static_cast<uint64_t>(o.t.numel()) * o.elem_bytes;
    header[name] = {{"dtype", o.dtype},
                    {"shape", ordered_json(o.t.shape())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(o));
  }
  std::string text = dump_json(header, std::string(kSave) + ": '" + path + "': header");
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  std::string file(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(file.data(), &n, 8);
  file.reserve(8 + text.size() + offset);
  file += text;
  for (const Out& o : data) append_bytes(file, o);
  write_file_atomic(path, file);
}

}  // namespace tg
