// describe_module and build_module (nn/describe.h): one table of layer types, each with its
// writer and its reader, so the two cannot drift apart.
#include "nn/describe.h"

#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/json.h"
#include "nn/layers.h"

namespace tg::nn {

namespace {

using nlohmann::json;

constexpr const char* kDescribe = "describe_module";
constexpr const char* kBuild = "build_module";

json size2(Size2 s) {
  return json::array({s.h, s.w});
}

// The reader of one layer's object: every key must be read once, and none may be left over.
class Fields {
 public:
  Fields(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

  const json& at(const char* key) {
    auto it = j_.find(key);
    TG_CHECK(it != j_.end(), kBuild, where(), "missing key \"", key, "\"");
    seen_.insert(key);
    return *it;
  }
  int64_t integer(const char* key, int64_t lo) {
    const int64_t v = json_int64(at(key), kBuild, field(key));
    TG_CHECK(v >= lo, kBuild, field(key), " must be >= ", lo, ", got ", v);
    return v;
  }
  double real(const char* key) {
    const json& v = at(key);
    TG_CHECK(v.is_number(), kBuild, field(key), " must be a number, got ", v.dump());
    const double d = v.get<double>();
    TG_CHECK(std::isfinite(d), kBuild, field(key), " must be finite, got ", d);
    return d;
  }
  bool boolean(const char* key) {
    const json& v = at(key);
    TG_CHECK(v.is_boolean(), kBuild, field(key), " must be true or false, got ", v.dump());
    return v.get<bool>();
  }
  Shape ints(const char* key, int64_t lo) {
    const auto& a = json_array(at(key), kBuild, field(key));
    Shape s;
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string f = field(key) + "[" + std::to_string(i) + "]";
      const int64_t v = json_int64(a[i], kBuild, f);
      TG_CHECK(v >= lo, kBuild, f, " must be >= ", lo, ", got ", v);
      s.push_back(v);
    }
    return s;
  }
  Size2 pair(const char* key, int64_t lo) {
    const Shape s = ints(key, lo);
    TG_CHECK(s.size() == 2, kBuild, field(key), " must be a pair [h, w], got ", s.size(),
             " values");
    return {s[0], s[1]};
  }
  // After the reads: any key not read is unexpected.
  void done() const {
    for (const auto& [k, v] : j_.items())
      TG_CHECK(seen_.count(k), kBuild, where(), "unexpected key \"", k, "\"");
  }
  std::string field(const char* key) const { return (path_.empty() ? "" : path_ + ".") + key; }
  std::string where() const { return path_.empty() ? "" : path_ + ": "; }
  const std::string& path() const { return path_; }

 private:
  const json& j_;
  std::string path_;
  std::set<std::string> seen_{"type"};
};

struct LayerType {
  const char* name;
  // The constructor's arguments of m (when m is of this type), or a null json otherwise.
  std::function<json(const Module& m)> write;
  std::function<std::shared_ptr<Module>(Fields& f)> read;
};

template <typename M>
const M* as(const Module& m) {
  return dynamic_cast<const M*>(&m);
}

const std::vector<LayerType>& layer_types();

json describe_at(const Module& m, const std::string& path) {
  for (const LayerType& t : layer_types()) {
    if (m.name() != t.name) continue;
    json args = t.write(m);
    if (args.is_null()) break;  // a user's Module that calls itself by a library name
    json j = {{"type", t.name}};
    if (std::string(t.name) == "Sequential") {
      json layers = json::array();
      for (const auto& [child_name, child] : m.named_children())
        layers.push_back(describe_at(*child, path.empty() ? child_name : path + "." + child_name));
      j["layers"] = std::move(layers);
    }
    for (auto& [k, v] : args.items()) j[k] = v;
    return j;
  }
  TG_FAIL(kDescribe, "the layer ", path.empty() ? "at the top" : "\"" + path + "\"", " (", m.name(),
          ") has no description the library can rebuild from: only nn/layers.h's layers "
          "have one (a Lambda is a C++ function; write a reshape as Unflatten or Flatten)");
}

std::shared_ptr<Module> build_at(const json& j, const std::string& path);

const std::vector<LayerType>& layer_types() {
  static const std::vector<LayerType> types = {
      {"Sequential", [](const Module& m) { return as<Sequential>(m) ? json::object() : json(); },
       [](Fields& f) -> std::shared_ptr<Module> {
         const auto& layers = json_array(f.at("layers"), kBuild, f.field("layers"));
         auto seq = std::make_shared<Sequential>();
         for (size_t i = 0; i < layers.size(); ++i)
           seq->push_back(build_at(layers[i], f.field("layers") + "[" + std::to_string(i) + "]"));
         return seq;
       }},
      {"Linear",
       [](const Module& m) {
         const auto* l = as<Linear>(m);
         if (!l) return json();
         return json{{"in_features", l->in_features},
                     {"out_features", l->out_features},
                     {"bias", l->bias.defined()}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t in = f.integer("in_features", 1), out = f.integer("out_features", 1);
         return std::make_shared<Linear>(in, out, f.boolean("bias"));
       }},
      {"Conv2d",
       [](const Module& m) {
         const auto* c = as<Conv2d>(m);
         if (!c) return json();
         return json{{"in_channels", c->in_channels},
                     {"out_channels", c->out_channels},
                     {"kernel_size", size2(c->kernel_size)},
                     {"stride", size2(c->stride)},
                     {"padding", size2(c->padding)},
                     {"dilation", size2(c->dilation)},
                     {"groups", c->groups},
                     {"bias", c->bias.defined()}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t in = f.integer("in_channels", 1), out = f.integer("out_channels", 1);
         const Size2 k = f.pair("kernel_size", 1), s = f.pair("stride", 1),
                     p = f.pair("padding", 0), d = f.pair("dilation", 1);
         const int64_t groups = f.integer("groups", 1);
         return std::make_shared<Conv2d>(in, out, k, s, p, d, groups, f.boolean("bias"));
       }},
      {"ReLU", [](const Module& m) { return as<ReLU>(m) ? json::object() : json(); },
       [](Fields&) -> std::shared_ptr<Module> { return std::make_shared<ReLU>(); }},
      {"Sigmoid", [](const Module& m) { return as<Sigmoid>(m) ? json::object() : json(); },
       [](Fields&) -> std::shared_ptr<Module> { return std::make_shared<Sigmoid>(); }},
      {"Tanh", [](const Module& m) { return as<Tanh>(m) ? json::object() : json(); },
       [](Fields&) -> std::shared_ptr<Module> { return std::make_shared<Tanh>(); }},
      {"LeakyReLU",
       [](const Module& m) {
         const auto* l = as<LeakyReLU>(m);
         return l ? json{{"negative_slope", l->negative_slope}} : json();
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         return std::make_shared<LeakyReLU>(f.real("negative_slope"));
       }},
      {"Flatten",
       [](const Module& m) {
         const auto* l = as<Flatten>(m);
         return l ? json{{"start_dim", l->start_dim}, {"end_dim", l->end_dim}} : json();
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t s = f.integer("start_dim", -64), e = f.integer("end_dim", -64);
         return std::make_shared<Flatten>(s, e);
       }},
      {"Unflatten",
       [](const Module& m) {
         const auto* l = as<Unflatten>(m);
         return l ? json{{"dim", l->dim}, {"unflattened_size", l->unflattened_size}} : json();
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t d = f.integer("dim", -64);
         return std::make_shared<Unflatten>(d, f.ints("unflattened_size", -1));
       }},
      {"Dropout",
       [](const Module& m) {
         const auto* l = as<Dropout>(m);
         return l ? json{{"p", l->p}} : json();
       },
       [](Fields& f) -> std::shared_ptr<Module> { return std::make_shared<Dropout>(f.real("p")); }},
      {"MaxPool2d",
       [](const Module& m) {
         const auto* l = as<MaxPool2d>(m);
         if (!l) return json();
         return json{{"kernel_size", size2(l->kernel_size)},
                     {"stride", size2(l->stride)},
                     {"padding", size2(l->padding)},
                     {"dilation", size2(l->dilation)},
                     {"ceil_mode", l->ceil_mode}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const Size2 k = f.pair("kernel_size", 1), s = f.pair("stride", 1),
                     p = f.pair("padding", 0), d = f.pair("dilation", 1);
         return std::make_shared<MaxPool2d>(k, s, p, d, f.boolean("ceil_mode"));
       }},
      {"AvgPool2d",
       [](const Module& m) {
         const auto* l = as<AvgPool2d>(m);
         if (!l) return json();
         return json{{"kernel_size", size2(l->kernel_size)},
                     {"stride", size2(l->stride)},
                     {"padding", size2(l->padding)},
                     {"ceil_mode", l->ceil_mode},
                     {"count_include_pad", l->count_include_pad}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const Size2 k = f.pair("kernel_size", 1), s = f.pair("stride", 1),
                     p = f.pair("padding", 0);
         const bool ceil = f.boolean("ceil_mode");
         return std::make_shared<AvgPool2d>(k, s, p, ceil, f.boolean("count_include_pad"));
       }},
      {"AdaptiveAvgPool2d",
       [](const Module& m) {
         const auto* l = as<AdaptiveAvgPool2d>(m);
         return l ? json{{"output_size", size2(l->output_size)}} : json();
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         return std::make_shared<AdaptiveAvgPool2d>(f.pair("output_size", 1));
       }},
      {"BatchNorm1d",
       [](const Module& m) {
         const auto* b = as<BatchNorm1d>(m);
         if (!b) return json();
         return json{{"num_features", b->num_features},
                     {"eps", b->eps},
                     {"momentum", b->momentum},
                     {"affine", b->affine},
                     {"track_running_stats", b->track_running_stats}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t n = f.integer("num_features", 1);
         const double eps = f.real("eps"), mom = f.real("momentum");
         const bool affine = f.boolean("affine");
         return std::make_shared<BatchNorm1d>(n, eps, mom, affine,
                                              f.boolean("track_running_stats"));
       }},
      {"BatchNorm2d",
       [](const Module& m) {
         const auto* b = as<BatchNorm2d>(m);
         if (!b) return json();
         return json{{"num_features", b->num_features},
                     {"eps", b->eps},
                     {"momentum", b->momentum},
                     {"affine", b->affine},
                     {"track_running_stats", b->track_running_stats}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t n = f.integer("num_features", 1);
         const double eps = f.real("eps"), mom = f.real("momentum");
         const bool affine = f.boolean("affine");
         return std::make_shared<BatchNorm2d>(n, eps, mom, affine,
                                              f.boolean("track_running_stats"));
       }},
      {"LayerNorm",
       [](const Module& m) {
         const auto* l = as<LayerNorm>(m);
         if (!l) return json();
         return json{{"normalized_shape", l->normalized_shape},
                     {"eps", l->eps},
                     {"elementwise_affine", l->elementwise_affine}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const Shape s = f.ints("normalized_shape", 1);
         const double eps = f.real("eps");
         return std::make_shared<LayerNorm>(s, eps, f.boolean("elementwise_affine"));
       }},
      {"GroupNorm",
       [](const Module& m) {
         const auto* g = as<GroupNorm>(m);
         if (!g) return json();
         return json{{"num_groups", g->num_groups},
                     {"num_channels", g->num_channels},
                     {"eps", g->eps},
                     {"affine", g->affine}};
       },
       [](Fields& f) -> std::shared_ptr<Module> {
         const int64_t g = f.integer("num_groups", 1), c = f.integer("num_channels", 1);
         const double eps = f.real("eps");
         return std::make_shared<GroupNorm>(g, c, eps, f.boolean("affine"));
       }},
  };
  return types;
}

std::shared_ptr<Module> build_at(const json& j, const std::string& path) {
  const std::string where = path.empty() ? "the model" : path;
  TG_CHECK(j.is_object(), kBuild, where, " must be an object {\"type\": ...}, got ", j.dump());
  Fields f(j, path);
  const std::string& type = json_string(f.at("type"), kBuild, f.field("type"));
  for (const LayerType& t : layer_types()) {
    if (type != t.name) continue;
    std::shared_ptr<Module> m;
    try {
      m = t.read(f);
    } catch (const Error& e) {
      // A layer's constructor refused the arguments: say where the layer sits.
      const std::string what = e.what();
      if (what.rfind(kBuild, 0) == 0) throw;
      TG_FAIL(kBuild, where, " (", type, "): ", what);
    }
    f.done();
    return m;
  }
  std::string known;
  for (const LayerType& t : layer_types())
    known += (known.empty() ? "" : ", ") + std::string(t.name);
  TG_FAIL(kBuild, where, ": unknown layer type \"", type, "\" (known: ", known, ")");
}

}  // namespace

json describe_module(const Module& m) {
  return describe_at(m, "");
}

std::shared_ptr<Module> build_module(const json& j) {
  return build_at(j, "");
}

}  // namespace tg::nn
