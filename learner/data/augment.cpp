// pad_crop_flip (augment.h): one pass over the batch, each output pixel read from its shifted
// (and perhaps mirrored) source or set to fill. Cost: n * c * h * w reads and writes; the draws
// are 2-3 per example. Single-threaded: it runs on the loader's prefetch thread, beside the
// training threads.
#include "learner/data/augment.h"

#include <vector>

#include "tensor/creation.h"
#include "tensor/random.h"

namespace tg {

namespace {

void check_options(const AugmentOptions& o) {
  TG_CHECK(o.pad >= 0, "pad_crop_flip", "pad must be >= 0, got ", o.pad);
  TG_CHECK(o.height >= 0 && o.width >= 0 && (o.height == 0) == (o.width == 0), "pad_crop_flip",
           "height and width must both be given (> 0) or both be 0, got ", o.height, " and ",
           o.width);
}

}  // namespace

Tensor pad_crop_flip(const Tensor& x, const AugmentOptions& o, Generator& gen) {
  check_options(o);
  TG_CHECK(x.device().is_cpu() && x.dtype() == DType::f32, "pad_crop_flip",
           "expects a float32 batch on the CPU, got ", dtype_name(x.dtype()), " on ",
           x.device().str());
  TG_CHECK(x.dim() >= 2, "pad_crop_flip", "expects a batch (n, ...), got ", x.shape_str());
  const int64_t n = x.size(0);
  int64_t h = o.height, w = o.width;
  if (h == 0) {
    TG_CHECK(x.dim() >= 3, "pad_crop_flip", "a batch of shape ", x.shape_str(),
             " needs the image's height and width given");
    h = x.size(-2);
    w = x.size(-1);
  }
  const int64_t per = n > 0 ? x.numel() / n : 0;
  TG_CHECK(h > 0 && w > 0 && per % (h * w) == 0, "pad_crop_flip", "examples of ", per,
           " values (batch ", x.shape_str(), ") are not images of ", h, "x", w);
  if (o.pad == 0 && !o.flip) return x;
  const int64_t c = per / (h * w), p = o.pad;
  const Tensor src = x.contiguous();
  Tensor out = empty_like(src);
  const float* in = src.data<float>();
  float* dst = out.data<float>();
  const auto fill = static_cast<float>(o.fill);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t dy = gen.randint(2 * p + 1) - p, dx = gen.randint(2 * p + 1) - p;
    const bool flipped = o.flip && gen.uniform() < 0.5;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* plane = in + (e * c + ch) * h * w;
      float* op = dst + (e * c + ch) * h * w;
      for (int64_t i = 0; i < h; ++i) {
        const int64_t si = i + dy;
        for (int64_t j = 0; j < w; ++j) {
          const int64_t sj = (flipped ? w - 1 - j : j) + dx;
          op[i * w + j] = si >= 0 && si < h && sj >= 0 && sj < w ? plane[si * w + sj] : fill;
        }
      }
    }
  }
  return out;
}

BatchTransform pad_crop_flip(AugmentOptions options) {
  check_options(options);
  if (options.pad == 0 && !options.flip) return [](Batch&, Generator&) {};
  return [options](Batch& b, Generator& gen) { b.x = pad_crop_flip(b.x, options, gen); };
}

}  // namespace tg
