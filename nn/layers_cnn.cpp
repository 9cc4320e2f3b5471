// The layers a CNN adds to the MLP's: pooling, dropout, more activations, Lambda. Each forwards
// to its op in autograd/; str() follows PyTorch's repr (with this library's lowercase bools).
#include <string>
#include <utility>

#include "autograd/functions.h"
#include "base/format.h"
#include "nn/layers.h"

namespace tg::nn {

namespace {

// PyTorch prints an int argument as an int and a pair as a tuple.
std::string size2_str(Size2 s) {
  if (s.h == s.w) return std::to_string(s.h);
  return "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")";
}

const char* bool_str(bool b) {
  return b ? "True" : "False";  // as Python prints them
}

}  // namespace

Tensor Sigmoid::forward(const Tensor& x) {
  return tg::sigmoid(x);
}

Tensor Tanh::forward(const Tensor& x) {
  return tg::tanh(x);
}

Tensor LeakyReLU::forward(const Tensor& x) {
  return tg::leaky_relu(x, negative_slope);
}

std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + num(negative_slope);
}

Dropout::Dropout(double p_) : Dropout(p_, default_generator()) {}

Dropout::Dropout(double p_, Generator& gen) : p(p_), gen_(&gen) {
  TG_CHECK(p >= 0 && p < 1, "Dropout", "p must be in [0, 1), got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  return tg::dropout(x, p, is_training(), *gen_);
}

std::string Dropout::extra_repr() const {
  return "p=" + num(p) + ", inplace=False";
}

MaxPool2d::MaxPool2d(Size2 k, Stride2 s, Size2 pad, Size2 dil, bool ceil)
    : kernel_size(k), stride(s.value_or(k)), padding(pad), dilation(dil), ceil_mode(ceil) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  return tg::max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + size2_str(kernel_size) + ", stride=" + size2_str(stride) +
         ", padding=" + size2_str(padding) + ", dilation=" + size2_str(dilation) +
         ", ceil_mode=" + bool_str(ceil_mode);
}

AvgPool2d::AvgPool2d(Size2 k, Stride2 s, Size2 pad, bool ceil, bool include_pad)
    : kernel_size(k),
      stride(s.value_or(k)),
      padding(pad),
      ceil_mode(ceil),
      count_include_pad(include_pad) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  return tg::avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + size2_str(kernel_size) + ", stride=" + size2_str(stride) +
         ", padding=" + size2_str(padding);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return tg::adaptive_avg_pool2d(x, output_size);
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  // PyTorch prints the argument as given; a square size is printed as its one int.
  return "output_size=" + size2_str(output_size);
}

Unflatten::Unflatten(int64_t dim_, Shape sizes) : dim(dim_), unflattened_size(std::move(sizes)) {
  TG_CHECK(!unflattened_size.empty(), "Unflatten", "unflattened_size is empty");
  int inferred = 0;
  for (int64_t s : unflattened_size) {
    TG_CHECK(s >= 0 || s == -1, "Unflatten", "sizes must be >= 0 or -1, got ", s);
    inferred += s == -1;
  }
  TG_CHECK(inferred <= 1, "Unflatten", "at most one size may be -1, got ", inferred);
}

Tensor Unflatten::forward(const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() >= 1, "Unflatten", "expected a tensor with dims, got ",
           x.defined() ? "a scalar" : "an undefined tensor");
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  TG_CHECK(d >= 0 && d < x.dim(), "Unflatten", "dim ", dim, " out of range for an input of ",
           x.dim(), " dims");
  const int64_t n = x.shape()[static_cast<size_t>(d)];
  int64_t known = 1;
  bool infer = false;
  for (int64_t s : unflattened_size) {
    if (s == -1)
      infer = true;
    else
      known *= s;
  }
  TG_CHECK(infer ? (known > 0 && n % known == 0) : known == n, "Unflatten", "sizes ",
           shape_str(unflattened_size), " do not unflatten dim ", d, " of size ", n,
           " (input shape ", shape_str(x.shape()), ")");
  Shape out(x.shape().begin(), x.shape().begin() + d);
  for (int64_t s : unflattened_size) out.push_back(s == -1 ? n / known : s);
  out.insert(out.end(), x.shape().begin() + d + 1, x.shape().end());
  return reshape(x, out);
}

std::string Unflatten::extra_repr() const {
  std::string s = "dim=" + std::to_string(dim) + ", unflattened_size=(";
  for (size_t i = 0; i < unflattened_size.size(); ++i)
    s += (i ? ", " : "") + std::to_string(unflattened_size[i]);
  return s + (unflattened_size.size() == 1 ? ",)" : ")");
}

Lambda::Lambda(std::function<Tensor(const Tensor&)> fn, std::string label)
    : fn_(std::move(fn)), label_(std::move(label)) {
  TG_CHECK(static_cast<bool>(fn_), "Lambda", "the function is empty");
}

Tensor Lambda::forward(const Tensor& x) {
  return fn_(x);
}

}  // namespace tg::nn
