// summary, predict, decode_classes and ClassificationInterpretation (learner/inference.h).
#include "learner/inference.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "base/format.h"
#include "base/type_name.h"
#include "learner/io/plot.h"
#include "nn/loss.h"
#include "tensor/creation.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Eval mode and no tape for one scope; the model's mode is put back however the scope ends.
class EvalScope {
 public:
  explicit EvalScope(nn::Module& m) : m_(m), was_(m.is_training()) { m_.eval(); }
  ~EvalScope() { m_.train(was_); }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  nn::Module& m_;
  bool was_;
  NoGrad no_grad_;
};

std::string dims_str(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out.empty() ? "scalar" : out;
}

std::string thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

std::string pad(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

void leaves(const std::shared_ptr<nn::Module>& m, std::vector<std::shared_ptr<nn::Module>>& out) {
  const auto children = m->named_children();
  if (children.empty()) {
    out.push_back(m);
    return;
  }
  for (const auto& [name, child] : children) leaves(child, out);
}

std::string loss_name(const LossFn& f) {
  using LossPtr = Tensor (*)(const Tensor&, const Tensor&);
  if (const LossPtr* p = f.target<LossPtr>(); p && *p == &tg::cross_entropy) return "cross_entropy";
  if (const auto* ce = f.target<nn::CrossEntropyLoss>())
    return "CrossEntropyLoss(label_smoothing=" + num(ce->label_smoothing) + ")";
  return "a custom function";
}

Shape item_shape_of(const Learner& learn) {
  for (const DataLoader* dl : {&learn.data.valid_dl, &learn.data.train_dl})
    if (dl->dataset()) {
      const Shape& s = dl->dataset()->x().shape();
      return Shape(s.begin() + 1, s.end());
    }
  return {};
}

const char* const kRule =
    "==========================================================================";
const char* const kLine =
    "__________________________________________________________________________";

}  // namespace

// --- summary -------------------------------------------------------------------------------

std::string summary(nn::Module& model, const Tensor& xb) {
  TG_CHECK(xb.defined() && xb.dim() >= 1, "summary", "needs a batch of inputs, got ",
           xb.defined() ? "a scalar" : "an undefined tensor");
  struct Row {
    std::string type;
    Shape out;
    int64_t params = 0;
    const char* trainable = "";
  };
  std::vector<Row> rows;
  // The leaves of the model itself (a model without children is its own one leaf).
  std::vector<nn::Module*> leaf_list;
  std::vector<nn::HookHandle> hooks;
  {
    std::vector<std::shared_ptr<nn::Module>> ls;
    for (const auto& [name, child] : model.named_children()) leaves(child, ls);
    for (const auto& l : ls) leaf_list.push_back(l.get());
    if (leaf_list.empty()) leaf_list.push_back(&model);
  }
  for (nn::Module* leaf : leaf_list)
    hooks.push_back(
        leaf->register_forward_hook([&rows](nn::Module& m, const Tensor&, const Tensor& out) {
          Row r{m.name(), out.defined() ? out.shape() : Shape{}, 0, ""};
          int64_t on = 0, total = 0;
          for (const Tensor& p : m.parameters()) {
            r.params += p.numel();
            on += p.requires_grad();
            ++total;
          }
          if (total > 0) r.trainable = on == total ? "True" : on == 0 ? "False" : "Partial";
          rows.push_back(std::move(r));
        }));
  Tensor x = xb;
  if (model.device() != xb.device() && !model.parameters().empty()) x = xb.to(model.device());
  {
    EvalScope scope(model);
    model(x);
  }
  hooks.clear();

  std::ostringstream os;
  os << model.name() << " (Input shape: " << dims_str(xb.shape()) << ")\n" << kRule << "\n";
  os << pad("Layer (type)", 21) << pad("Output Shape", 21) << pad("Param #", 11) << "Trainable\n"
     << kRule << "\n";
  for (const Row& r : rows) {
    std::string line = pad(r.type, 20) + " " + pad(dims_str(r.out), 20) + " " +
                       pad(r.params ? std::to_string(r.params) : "", 10) + " " + r.trainable;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << "\n";
  }
  int64_t total = 0, trainable = 0;
  for (const Tensor& p : model.parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  os << kLine << "\n\n"
     << "Total params: " << thousands(total) << "\n"
     << "Total trainable params: " << thousands(trainable) << "\n"
     << "Total non-trainable params: " << thousands(total - trainable) << "\n";
  return os.str();
}

std::string summary(Learner& learn) {
  const DataLoader* dl =
      learn.data.train_dl.size() > 0 ? &learn.data.train_dl : &learn.data.valid_dl;
  TG_CHECK(dl->size() > 0, "summary", "the Learner has no data to run the model on");
  const Tensor xb = dl->batch(dl->order(0), 0).x;
  std::ostringstream os;
  os << summary(*learn.model, xb) << "\n";
  os << "Optimizer used: " << learn.opt->name() << " (";
  const auto& names = learn.opt->hyper_names();
  for (size_t i = 0; i < names.size(); ++i)
    os << (i ? ", " : "") << names[i] << "=" << num(learn.opt->get(names[i]));
  os << ")\n";
  os << "Loss function: " << loss_name(learn.loss_func) << "\n\nCallbacks:\n";
  for (const auto& cb : learn.cbs()) os << "  - " << type_name(typeid(*cb)) << "\n";
  return os.str();
}

// --- predict ---------------------------------------------------------------------------------

Tensor decode_classes(const Tensor& preds) {
  TG_CHECK(preds.defined() && preds.dim() == 2, "decode_classes",
           "expected predictions (n, classes), got ",
           preds.defined() ? preds.shape_str() : "an undefined tensor");
  return ops::argmax(preds, 1);
}

Prediction predict(nn::Module& model, const Tensor& item, const Normalization& norm,
                   const std::vector<std::string>& vocab,
                   const std::function<Tensor(const Tensor&)>& activation,
                   const Shape& item_shape) {
  TG_CHECK(item.defined(), "predict", "no item given (an undefined tensor)");
  Shape batch_shape = item.shape();
  if (!item_shape.empty()) {
    Shape one = item_shape;
    one.insert(one.begin(), 1);
    TG_CHECK(item.shape() == item_shape || item.shape() == one, "predict", "the item's shape ",
             item.shape_str(), " is not the model's input ", shape_str(item_shape),
             " (nor a batch of one of it)");
    batch_shape = one;
  } else {
    batch_shape.insert(batch_shape.begin(), 1);
  }
  Tensor x = normalize(item, norm).reshape(batch_shape);
  if (!model.parameters().empty()) x = x.to(model.device());
  Tensor out;
  {
    EvalScope scope(model);
    out = model(x);
    TG_CHECK(out.defined() && out.dim() == 2 && out.size(0) == 1, "predict",
             "the model's output for one item should be (1, classes), got ",
             out.defined() ? out.shape_str() : "an undefined tensor");
    if (activation) out = activation(out);
  }
  Prediction p;
  for (float v : out.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>())
    p.probs.push_back(v);
  p.index = std::max_element(p.probs.begin(), p.probs.end()) - p.probs.begin();
  p.label = p.index < static_cast<int64_t>(vocab.size()) ? vocab[static_cast<size_t>(p.index)]
                                                         : std::to_string(p.index);
  return p;
}

Prediction predict(Learner& learn, const Tensor& item) {
  return predict(*learn.model, item, learn.data.norm, learn.data.vocab, learn.activation,
                 item_shape_of(learn));
}

std::string Learner::summary() {
  return tg::summary(*this);
}

Prediction Learner::predict(const Tensor& item) {
  return tg::predict(*this, item);
}

// --- ClassificationInterpretation -------------------------------------------------------------

ClassificationInterpretation ClassificationInterpretation::from_learner(Learner& learn,
                                                                        DataLoader* dl) {
  Learner::Preds raw = learn.get_preds(dl, /*raw=*/true);
  const char* op = "ClassificationInterpretation";
  TG_CHECK(raw.preds.defined() && raw.preds.dim() == 2, op,
           "needs a classifier's predictions (n, classes) on a non-empty data set, got ",
           raw.preds.defined() ? raw.preds.shape_str() : "none");
  TG_CHECK(raw.targets.dim() == 1 && raw.targets.dtype() == DType::i32, op,
           "needs int32 class labels (n), got ", raw.targets.shape_str(), " ",
           dtype_name(raw.targets.dtype()));
  NoGrad no_grad;
  const Tensor preds = raw.preds.to(Device::cpu()), targets = raw.targets.to(Device::cpu());
  const int64_t n = preds.size(0);
  Tensor losses = empty({n}, DType::f32);
  float* l = losses.data<float>();
  for (int64_t i = 0; i < n; ++i)
    l[i] = learn.loss_func(preds.narrow(0, i, 1), targets.narrow(0, i, 1)).item<float>();
  Tensor probs = learn.activation ? learn.activation(preds) : preds;
  return ClassificationInterpretation(probs, targets, losses, learn.data.vocab);
}

ClassificationInterpretation::ClassificationInterpretation(Tensor probs_, Tensor targets_,
                                                           Tensor losses_,
                                                           std::vector<std::string> vocab_)
    : probs(std::move(probs_)),
      targets(std::move(targets_)),
      losses(std::move(losses_)),
      vocab(std::move(vocab_)) {
  const char* op = "ClassificationInterpretation";
  TG_CHECK(probs.defined() && probs.dim() == 2 && probs.size(1) >= 1, op,
           "probs must be (n, classes), got ", probs.defined() ? probs.shape_str() : "none");
  n_ = probs.size(0);
  c_ = probs.size(1);
  TG_CHECK(targets.defined() && targets.dim() == 1 && targets.size(0) == n_, op,
           "targets must be (", n_, "), got ", targets.defined() ? targets.shape_str() : "none");
  TG_CHECK(losses.defined() && losses.dim() == 1 && losses.size(0) == n_, op, "losses must be (",
           n_, "), got ", losses.defined() ? losses.shape_str() : "none");
  TG_CHECK(targets.dtype() == DType::i32, op, "targets must be int32 class labels, got ",
           dtype_name(targets.dtype()));
  p_ = probs.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>();
  l_ = losses.to(Device::cpu()).to(DType::f32).contiguous().to_vector<float>();
  t_ = targets.to(Device::cpu()).contiguous().to_vector<int32_t>();
  for (int64_t i = 0; i < n_; ++i)
    TG_CHECK(t_[static_cast<size_t>(i)] >= 0 && t_[static_cast<size_t>(i)] < c_, op, "target ", i,
             " is ", t_[static_cast<size_t>(i)], ", outside [0, ", c_, ")");
  d_.resize(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) {
    const float* row = p_.data() + i * c_;
    d_[static_cast<size_t>(i)] = static_cast<int32_t>(std::max_element(row, row + c_) - row);
  }
  decoded = from_vector<int32_t>(d_, {n_});
}

std::string ClassificationInterpretation::label(int64_t cls) const {
  if (cls >= 0 && cls < static_cast<int64_t>(vocab.size())) return vocab[static_cast<size_t>(cls)];
  return std::to_string(cls);
}

std::vector<std::vector<int64_t>> ClassificationInterpretation::confusion_matrix() const {
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(c_),
                                      std::vector<int64_t>(static_cast<size_t>(c_), 0));
  for (size_t i = 0; i < t_.size(); ++i)
    ++m[static_cast<size_t>(t_[i])][static_cast<size_t>(d_[i])];
  return m;
}

double ClassificationInterpretation::accuracy() const {
  if (n_ == 0) return std::nan("");
  int64_t right = 0;
  for (size_t i = 0; i < t_.size(); ++i) right += t_[i] == d_[i];
  return static_cast<double>(right) / static_cast<double>(n_);
}

std::vector<ClassificationInterpretation::Loss> ClassificationInterpretation::top_losses(
    int64_t k) const {
  TG_CHECK(k >= 0, "top_losses", "k must be >= 0, got ", k);
  std::vector<int64_t> idx(static_cast<size_t>(n_));
  std::iota(idx.begin(), idx.end(), 0);
  // NaN first (the worst a loss can be), then largest first, ties by index.
  auto key = [&](int64_t i) {
    const float v = l_[static_cast<size_t>(i)];
    return std::isnan(v) ? INFINITY : v;
  };
  const auto kk = static_cast<size_t>(std::min(k, n_));
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(),
                    [&](int64_t a, int64_t b) {
                      const bool na = std::isnan(l_[static_cast<size_t>(a)]),
                                 nb = std::isnan(l_[static_cast<size_t>(b)]);
                      if (na != nb) return na;
                      if (key(a) != key(b)) return key(a) > key(b);
                      return a < b;
                    });
  std::vector<Loss> out;
  for (size_t j = 0; j < kk; ++j) {
    const auto i = static_cast<size_t>(idx[j]);
    out.push_back({idx[j], l_[i], p_[i * static_cast<size_t>(c_) + static_cast<size_t>(t_[i])],
                   t_[i], d_[i]});
  }
  return out;
}

std::vector<ClassificationInterpretation::Confusion> ClassificationInterpretation::most_confused(
    int64_t min_count) const {
  const auto m = confusion_matrix();
  std::vector<Confusion> out;
  for (int64_t a = 0; a < c_; ++a)
    for (int64_t p = 0; p < c_; ++p) {
      const int64_t v = m[static_cast<size_t>(a)][static_cast<size_t>(p)];
      if (a != p && v >= min_count && v > 0) out.push_back({a, p, v});
    }
  std::stable_sort(out.begin(), out.end(),
                   [](const Confusion& x, const Confusion& y) { return x.count > y.count; });
  return out;
}

std::string ClassificationInterpretation::str(int64_t k) const {
  std::ostringstream os;
  const auto m = confusion_matrix();
  os << "Confusion matrix (rows: actual, columns: predicted), " << n_ << " items, accuracy "
     << fixed(accuracy(), 4) << "\n";
  size_t name_w = 5;
  for (int64_t c = 0; c < c_; ++c) name_w = std::max(name_w, label(c).size());
  name_w = std::min<size_t>(name_w, 16);
  int64_t biggest = 1;
  for (const auto& row : m)
    for (int64_t v : row) biggest = std::max(biggest, v);
  const size_t w =
      std::max<size_t>(std::to_string(biggest).size(), std::to_string(c_ - 1).size()) + 1;
  os << std::string(name_w + 6, ' ');
  for (int64_t c = 0; c < c_; ++c) os << std::setw(static_cast<int>(w)) << c;
  os << "\n";
  for (int64_t a = 0; a < c_; ++a) {
    os << std::setw(3) << a << " " << pad(label(a).substr(0, name_w), name_w) << "  ";
    for (int64_t p = 0; p < c_; ++p)
      os << std::setw(static_cast<int>(w)) << m[static_cast<size_t>(a)][static_cast<size_t>(p)];
    os << "\n";
  }
  const auto mc = most_confused();
  os << "\nMost confused (actual -> predicted: items)\n";
  if (mc.empty()) os << "  none\n";
  for (size_t i = 0; i < std::min<size_t>(mc.size(), 10); ++i)
    os << "  " << label(mc[i].actual) << " -> " << label(mc[i].predicted) << ": " << mc[i].count
       << "\n";
  const auto top = top_losses(k);
  os << "\nTop " << top.size() << " losses\n"
     << "  " << pad("index", 8) << pad("actual", 14) << pad("predicted", 14) << pad("loss", 9)
     << "prob(actual)\n";
  for (const Loss& t : top)
    os << "  " << pad(std::to_string(t.index), 8) << pad(label(t.actual), 14)
       << pad(label(t.predicted), 14) << pad(fixed(t.loss, 3), 9) << fixed(t.prob, 4) << "\n";
  return os.str();
}

namespace {

// Matplotlib's "Blues" end points, as fastai's plot_confusion_matrix colours its cells.
std::string blues(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  const double a[3] = {247, 251, 255}, b[3] = {8, 48, 107};
  std::ostringstream os;
  os << "#" << std::hex << std::setfill('0');
  for (int i = 0; i < 3; ++i)
    os << std::setw(2) << static_cast<int>(std::lround(a[i] + (b[i] - a[i]) * t));
  return os.str();
}

std::string px(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << v;
  return os.str();
}

}  // namespace

std::string ClassificationInterpretation::svg_confusion_matrix(bool normalize) const {
  const auto m = confusion_matrix();
  const double cell = c_ <= 12 ? 44 : std::max(8.0, 528.0 / static_cast<double>(c_));
  size_t longest = 1;  // the labels' room: about 6.5 px a character at 11 px
  for (int64_t c = 0; c < c_; ++c) longest = std::max(longest, label(c).size());
  const double room = 6.5 * static_cast<double>(std::min<size_t>(longest, 24));
  const double left = 40 + room, top = 56, bottom = 44 + room, right = 20;
  const double W = left + cell * static_cast<double>(c_) + right,
               H = top + cell * static_cast<double>(c_) + bottom;
  std::vector<double> row_sum(static_cast<size_t>(c_), 0);
  double biggest = 0;
  for (int64_t a = 0; a < c_; ++a)
    for (int64_t p = 0; p < c_; ++p) row_sum[static_cast<size_t>(a)] += m[a][p];
  auto value = [&](int64_t a, int64_t p) {
    const double v = static_cast<double>(m[static_cast<size_t>(a)][static_cast<size_t>(p)]);
    return normalize ? (row_sum[a] > 0 ? v / row_sum[a] : 0.0) : v;
  };
  for (int64_t a = 0; a < c_; ++a)
    for (int64_t p = 0; p < c_; ++p) biggest = std::max(biggest, value(a, p));
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(W) << "\" height=\"" << px(H)
     << "\" viewBox=\"0 0 " << px(W) << " " << px(H) << "\" font-family=\"sans-serif\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << px(W / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">"
     << (normalize ? "Confusion matrix (each row as fractions)" : "Confusion matrix")
     << "</text>\n<text x=\"" << px(W / 2)
     << "\" y=\"40\" text-anchor=\"middle\" font-size=\"10\" fill=\"#666\">" << n_
     << " items, accuracy " << fixed(accuracy(), 4) << "</text>\n";
  const bool text = cell >= 20;
  for (int64_t a = 0; a < c_; ++a)
    for (int64_t p = 0; p < c_; ++p) {
      const double v = value(a, p), t = biggest > 0 ? v / biggest : 0;
      const double x = left + cell * static_cast<double>(p),
                   y = top + cell * static_cast<double>(a);
      os << "<rect class=\"cell\" x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(cell)
         << "\" height=\"" << px(cell) << "\" fill=\"" << blues(t) << "\"><title>"
         << svg_escape(label(a)) << " predicted as " << svg_escape(label(p)) << ": "
         << m[static_cast<size_t>(a)][static_cast<size_t>(p)] << "</title></rect>\n";
      if (text)
        os << "<text x=\"" << px(x + cell / 2) << "\" y=\"" << px(y + cell / 2 + 4)
           << "\" text-anchor=\"middle\" font-size=\"11\" fill=\"" << (t > 0.5 ? "white" : "black")
           << "\">" << (normalize ? fixed(v, 2) : std::to_string(static_cast<int64_t>(v)))
           << "</text>\n";
    }
  const double fs = std::min(11.0, cell * 0.8);
  for (int64_t c = 0; c < c_; ++c) {
    const double mid = cell * (static_cast<double>(c) + 0.5);
    os << "<text x=\"" << px(left - 6) << "\" y=\"" << px(top + mid + 4)
       << "\" text-anchor=\"end\" font-size=\"" << px(fs) << "\">" << svg_escape(label(c))
       << "</text>\n";
    const double x = left + mid, y = top + cell * static_cast<double>(c_) + 8;
    os << "<text transform=\"translate(" << px(x + 4) << "," << px(y) << ") rotate(-90)\""
       << " text-anchor=\"end\" font-size=\"" << px(fs) << "\">" << svg_escape(label(c))
       << "</text>\n";
  }
  os << "<text x=\"" << px(left + cell * static_cast<double>(c_) / 2) << "\" y=\"" << px(H - 8)
     << "\" text-anchor=\"middle\" font-size=\"12\">Predicted</text>\n"
     << "<text transform=\"translate(16," << px(top + cell * static_cast<double>(c_) / 2)
     << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">Actual</text>\n</svg>\n";
  return os.str();
}

std::string ClassificationInterpretation::svg_top_losses(const Tensor& x, int64_t k, int64_t rows,
                                                         int64_t cols) const {
  const char* op = "svg_top_losses";
  TG_CHECK(x.defined() && x.dim() >= 2 && x.size(0) == n_, op, "x must hold the ", n_,
           " items interpreted, got ", x.defined() ? x.shape_str() : "none");
  TG_CHECK(rows > 0 && cols > 0 && x.numel() / n_ == rows * cols, op, "items of ",
           x.numel() / std::max<int64_t>(n_, 1), " values are not ", rows, "x", cols, " images");
  const auto top = top_losses(k);
  const Tensor host = x.to(Device::cpu());
  const int64_t per_row = 3;
  const double scale = std::max(1.0, 112.0 / static_cast<double>(std::max(rows, cols)));
  const double tile_w = std::max(150.0, scale * static_cast<double>(cols)) + 20,
               tile_h = scale * static_cast<double>(rows) + 48;
  const int64_t grid_rows = (static_cast<int64_t>(top.size()) + per_row - 1) / per_row;
  const double W = tile_w * static_cast<double>(per_row),
               H = 40 + tile_h * static_cast<double>(grid_rows);
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(W) << "\" height=\"" << px(H)
     << "\" viewBox=\"0 0 " << px(W) << " " << px(H) << "\" font-family=\"sans-serif\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << px(W / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
     << "Prediction / Actual / Loss / Probability</text>\n";
  for (size_t j = 0; j < top.size(); ++j) {
    const Loss& t = top[j];
    const double ox = tile_w * static_cast<double>(static_cast<int64_t>(j) % per_row) + 10,
                 oy = 40 + tile_h * static_cast<double>(static_cast<int64_t>(j) / per_row);
    const std::vector<float> img =
        host.narrow(0, t.index, 1).to(DType::f32).contiguous().to_vector<float>();
    float lo = INFINITY, hi = -INFINITY;
    for (float v : img)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    os << "<g class=\"item\">\n<text x=\"" << px(ox) << "\" y=\"" << px(oy + 12)
       << "\" font-size=\"11\">" << svg_escape(label(t.predicted)) << " / "
       << svg_escape(label(t.actual)) << " / " << fixed(t.loss, 2) << " / " << fixed(t.prob, 2)
       << "</text>\n<text x=\"" << px(ox) << "\" y=\"" << px(oy + 25)
       << "\" font-size=\"9\" fill=\"#666\">item " << t.index << "</text>\n";
    const double iy = oy + 32;
    os << "<rect x=\"" << px(ox) << "\" y=\"" << px(iy) << "\" width=\""
       << px(scale * static_cast<double>(cols)) << "\" height=\""
       << px(scale * static_cast<double>(rows)) << "\" fill=\"black\"/>\n";
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const float v = img[static_cast<size_t>(r * cols + c)];
        const double g = hi > lo && std::isfinite(v) ? (v - lo) / (hi - lo) : 0;
        const int level = static_cast<int>(std::lround(255 * g));
        if (level == 0) continue;  // the black background
        os << "<rect x=\"" << px(ox + scale * static_cast<double>(c)) << "\" y=\""
           << px(iy + scale * static_cast<double>(r)) << "\" width=\"" << px(scale)
           << "\" height=\"" << px(scale) << "\" fill=\"rgb(" << level << "," << level << ","
           << level << ")\"/>\n";
      }
    os << "</g>\n";
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace tg
