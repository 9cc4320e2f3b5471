// Dataset (paired x, y tensors) and the scalar normalisation the course applies to MNIST.
//
// stats_of accumulates in float64 in fixed-size blocks (block sums, then the sum of the
// blocks), so the result is accurate for tens of millions of pixels and does not depend on
// anything but the data. Its std is the unbiased one (divide by n - 1), as torch's
// x_train.std() is, so normalised values match the course's notebooks.
#include "learner/data/data.h"

#include <cmath>
#include <vector>

#include "tensor/dtype.h"

namespace tg {

Dataset::Dataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  TG_CHECK(x_.defined() && y_.defined(), "Dataset", "x and y must both be defined tensors");
  TG_CHECK(x_.dim() >= 1 && y_.dim() >= 1, "Dataset", "x and y need a first (example) dim, got x ",
           x_.shape_str(), ", y ", y_.shape_str());
  TG_CHECK(x_.size(0) == y_.size(0), "Dataset", "x and y disagree on the number of examples: x ",
           x_.shape_str(), ", y ", y_.shape_str());
}

std::shared_ptr<Dataset> Dataset::head(int64_t n) const {
  TG_CHECK(n > 0, "Dataset::head", "n must be > 0, got ", n);
  const int64_t m = std::min(n, size());
  return std::make_shared<Dataset>(x_.detach().narrow(0, 0, m), y_.detach().narrow(0, 0, m));
}

namespace {

// Calls f(block_begin, block_end) over [0, n) in fixed blocks, summing the returned doubles
// block by block: the same order on every run.
template <typename F>
double blocked_sum(int64_t n, F f) {
  constexpr int64_t kBlock = 4096;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) total += f(b, std::min(n, b + kBlock));
  return total;
}

template <typename T>
void normalize_into(const T* p, int64_t count, const Normalization& n, float* o) {
#pragma omp parallel for schedule(static) if (count >= (int64_t(1) << 16))
  for (int64_t i = 0; i < count; ++i) o[i] = float((double(p[i]) - n.mean) / n.std);
}

Tensor host_contiguous(const Tensor& x) {
  return x.detach().to(Device::cpu()).contiguous();
}

}  // namespace

Normalization stats_of(const Tensor& x) {
  TG_CHECK(x.defined(), "stats_of", "undefined tensor");
  const int64_t n = x.numel();
  TG_CHECK(n >= 2, "stats_of", "need at least 2 elements for an (unbiased) std, got ", n,
           " (shape ", x.shape_str(), ")");
  const Tensor c = host_contiguous(x);
  return TG_DISPATCH_ALL(c.dtype(), "stats_of", [&] {
    const scalar_t* p = c.data<scalar_t>();
    const double mean = blocked_sum(n,
                                    [&](int64_t b, int64_t e) {
                                      double s = 0;
                                      for (int64_t i = b; i < e; ++i) s += double(p[i]);
                                      return s;
                                    }) /
                        double(n);
    const double ss = blocked_sum(n, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += (double(p[i]) - mean) * (double(p[i]) - mean);
      return s;
    });
    return Normalization{mean, std::sqrt(ss / double(n - 1))};
  });
}

Tensor normalize(const Tensor& x, const Normalization& n) {
  TG_CHECK(x.defined(), "normalize", "undefined tensor");
  TG_CHECK(n.std != 0 && std::isfinite(n.std) && std::isfinite(n.mean), "normalize",
           "std must be finite and non-zero (and mean finite), got mean ", n.mean, ", std ", n.std,
           " — is the data constant?");
  const Tensor c = host_contiguous(x);
  Tensor out = empty(c.shape(), DType::f32);
  const int64_t count = c.numel();
  TG_DISPATCH_ALL(c.dtype(), "normalize",
                  [&] { normalize_into(c.data<scalar_t>(), count, n, out.data<float>()); });
  return x.device().is_cpu() ? out : out.to(x.device());
}

std::shared_ptr<Dataset> to_device(const Dataset& ds, Device device) {
  return std::make_shared<Dataset>(ds.x().detach().to(device), ds.y().detach().to(device));
}

DataBunch to_device(const DataBunch& data, Device device) {
  DataBunch out = data;
  auto move = [&](DataLoader& dl) {
    if (!dl.dataset()) return;
    const int64_t epoch = dl.epoch();
    dl = DataLoader(to_device(*dl.dataset(), device), dl.options());
    dl.set_epoch(epoch);
  };
  move(out.train_dl);
  move(out.valid_dl);
  return out;
}

}  // namespace tg
