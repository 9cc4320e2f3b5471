// Data augmentation for image batches, on the CPU, as a DataLoader batch transform (the
// course's step 10): a random crop of the image padded by `pad` pixels on every side (a random
// shift by up to pad pixels, the uncovered border filled with `fill`) and an optional
// horizontal flip, drawn independently for every example.
//
//   auto dl = tg::DataLoader(train, {.batch_size = 64, .shuffle = true, .seed = 1,
//                                    .prefetch = true,
//                                    .transform = tg::pad_crop_flip({.pad = 2, .height = 28,
//                                                                    .width = 28})});
//
// The loader calls the transform with a generator keyed by (seed, epoch, batch), on its
// prefetch thread when prefetching: the same seed gives the same augmented batches with or
// without prefetch, and the training step does not wait for them. Give it to the training
// loader only: the validation data stays as it is.
#pragma once

#include <cstdint>

#include "learner/data/data.h"

namespace tg {

struct AugmentOptions {
  int64_t pad = 0;     // crop back to (height, width) from the image padded by pad on each side
  bool flip = false;   // flip left-right with probability 1/2 (not for digits)
  int64_t height = 0;  // the image's size; 0: x's last two dims (x (n, [c,] h, w))
  int64_t width = 0;   // with x (n, d): d must be c * height * width
  double fill = 0;     // the value of the padding (the normalised value of a black pixel)
};

// pad = 0 without flip is the identity (the batch is returned as it is).
BatchTransform pad_crop_flip(AugmentOptions options);

// The transform's work on one batch, exposed for tests: x (n, ...) float32 contiguous on the
// CPU, viewed as (n, c, height, width); per example it draws the crop offsets oy, ox in
// [0, 2 * pad] (randint, y first) and then, with flip, one uniform (< 0.5: flipped), so
//   out[c, i, j] = in[c, i + oy - pad, j' + ox - pad]   (fill outside the image)
// with j' = width - 1 - j when flipped, else j.
Tensor pad_crop_flip(const Tensor& x, const AugmentOptions& options, Generator& gen);

}  // namespace tg
