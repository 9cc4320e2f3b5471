// Data augmentation (learner/data/augment.h): the pad-crop-flip on tiny images by hand, its
// identity case, shapes, and determinism through the DataLoader (with and without prefetch).
#include <doctest/doctest.h>

#include <vector>

#include "learner/data/augment.h"
#include "learner/data/data.h"
#include "tensor/creation.h"
#include "tensor/random.h"

using namespace tg;

namespace {

// A seed whose first draws (augment.h: oy, ox in [0, 2p], then the flip's uniform) give
// shifts dy, dx (= o - p) and the flip asked for.
uint64_t seed_for(int64_t p, int64_t dy, int64_t dx, bool flip, bool want_flip) {
  for (uint64_t s = 0; s < 10000; ++s) {
    Generator t(s);
    const int64_t y = t.randint(2 * p + 1) - p, x = t.randint(2 * p + 1) - p;
    const bool f = flip && t.uniform() < 0.5;
    if (y == dy && x == dx && f == want_flip) return s;
  }
  FAIL("no seed found");
  return 0;
}

const Tensor kImage = tensor({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}).reshape({1, 1, 3, 3});

std::vector<float> augmented(int64_t dy, int64_t dx, bool flip, bool want_flip) {
  Generator gen(seed_for(1, dy, dx, flip, want_flip));
  return pad_crop_flip(kImage, {.pad = 1, .flip = flip, .fill = -1}, gen).to_vector<float>();
}

}  // namespace

TEST_CASE("augment: pad-crop shifts by hand on a 3x3 image, the border filled") {
  // dy = +1, dx = -1: out[i][j] = in[i + 1][j - 1].
  CHECK(augmented(1, -1, false, false) == std::vector<float>{-1, 4, 5, -1, 7, 8, -1, -1, -1});
  // dy = -1, dx = 0: the image moves down one row.
  CHECK(augmented(-1, 0, false, false) == std::vector<float>{-1, -1, -1, 1, 2, 3, 4, 5, 6});
  CHECK(augmented(0, 0, false, false) == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("augment: the flip mirrors each row, after the crop") {
  CHECK(augmented(0, 0, true, true) == std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7});
  // Flipped, then dx = +1: out[i][j] = in[i][(2 - j) + 1].
  CHECK(augmented(0, 1, true, true) == std::vector<float>{-1, 3, 2, -1, 6, 5, -1, 9, 8});
  CHECK(augmented(0, 0, true, false) == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("augment: pad 0 without flip is the identity, shapes are kept") {
  Generator gen(1);
  Tensor x = randn({5, 16}, gen);
  Batch b{x, from_vector<int32_t>({0, 1, 2, 3, 4})};
  pad_crop_flip({.pad = 0})(b, gen);
  CHECK(b.x.to_vector<float>() == x.to_vector<float>());
  CHECK(pad_crop_flip(x, {.pad = 0, .height = 4, .width = 4}, gen).to_vector<float>() ==
        x.to_vector<float>());
  // (n, h*w) with the size given, (n, c, h, w) with it read from the shape.
  CHECK(pad_crop_flip(x, {.pad = 2, .height = 4, .width = 4}, gen).shape() == Shape{5, 16});
  Tensor img = randn({3, 2, 5, 4}, gen);
  Tensor out = pad_crop_flip(img, {.pad = 1, .flip = true}, gen);
  CHECK(out.shape() == Shape{3, 2, 5, 4});
  CHECK(out.to_vector<float>() != img.to_vector<float>());
  // Every value of the output is the fill or one of its own example's values.
  const auto in = img.to_vector<float>(), o = out.to_vector<float>();
  for (size_t e = 0; e < 3; ++e)
    for (size_t k = 0; k < 40; ++k) {
      const float v = o[e * 40 + k];
      bool found = v == 0;
      for (size_t m = 0; m < 40 && !found; ++m) found = in[e * 40 + m] == v;
      CHECK(found);
    }
}

TEST_CASE("augment: bad options and batches are refused, naming them") {
  Generator gen(1);
  CHECK_THROWS_AS(pad_crop_flip({.pad = -1}), Error);
  CHECK_THROWS_AS(pad_crop_flip({.pad = 1, .height = 4}), Error);
  CHECK_THROWS_AS(pad_crop_flip(randn({2, 15}, gen), {.pad = 1, .height = 4, .width = 4}, gen),
                  Error);
  CHECK_THROWS_AS(pad_crop_flip(randn({2, 16}, gen), {.pad = 1}, gen), Error);  // no size
  CHECK_THROWS_AS(
      pad_crop_flip(zeros({2, 16}, DType::f64), {.pad = 1, .height = 4, .width = 4}, gen), Error);
}

TEST_CASE("augment: through a DataLoader, the same for a seed, with or without prefetch") {
  Generator gen(3);
  auto ds = std::make_shared<Dataset>(randn({20, 1, 6, 6}, gen), randint(0, 3, {20}, gen));
  auto loader = [&](uint64_t seed, bool prefetch, bool augment) {
    return DataLoader(
        ds, {.batch_size = 8,
             .shuffle = true,
             .seed = seed,
             .prefetch = prefetch,
             .transform = augment ? pad_crop_flip({.pad = 2, .flip = true}) : BatchTransform()});
  };
  auto epochs = [](DataLoader dl) {
    std::vector<std::vector<float>> xs;
    for (int e = 0; e < 2; ++e)
      for (const Batch& b : dl) xs.push_back(b.x.to_vector<float>());
    return xs;
  };
  const auto a = epochs(loader(4, false, true));
  REQUIRE(a.size() == 6);
  CHECK(epochs(loader(4, true, true)) == a);   // the worker thread draws the same
  CHECK(epochs(loader(4, false, true)) == a);  // a second run too
  CHECK(epochs(loader(5, false, true)) != a);  // another seed differs
  const auto plain = epochs(loader(4, false, false));
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].size() == plain[i].size());  // the shapes are kept
    CHECK(a[i] != plain[i]);                // and every batch is changed
  }
  // The order is the loader's own: the labels are those of the plain loader.
  DataLoader aug = loader(4, true, true), raw = loader(4, false, false);
  auto ia = aug.begin();
  auto ir = raw.begin();
  CHECK(ia->y.to_vector<int32_t>() == ir->y.to_vector<int32_t>());
}
