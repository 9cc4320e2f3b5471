// The CUDA GEMMs (kernels/gemm.h, tg::kernels::cuda): cuBLAS (float, double, TF32 opt-in) and
// the ladder rungs naive, coalesced, smem, regtile and vec, each against the CPU's double gemm
// computed from the same inputs.
//
// Every problem is stored in one of three layouts, so that rung 5 takes each of its paths:
// dense (leading dimension = columns), padded (leading dimension rounded up past the columns to
// a multiple of 4: float4 loads inside, scalar ones at the ragged edges) and odd (3 extra
// columns and a base pointer one float past a 16-byte boundary: scalar loads only). Padding and
// the elements before the base hold NaN in A and B (a kernel reading outside the matrix poisons
// its result) and a sentinel in C (it must come back untouched). With beta == 0, C itself holds
// NaN: it must be written, never read.
//
// Tolerance: |got - ref| <= (k + 3) * eps * (|alpha| sum_p |a_ip b_pj| + |beta c_ij|), the
// rounding error bound of any summation order (eps of float, or of TF32 for the opt-in test).
#include <cuda_runtime.h>  // cudaMalloc(T**, size_t), used by DeviceBuffer
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"
#include "cuda/cuda_test_util.h"
#include "kernels/gemm.h"
#include "test_util.h"

using tg::test::DeviceBuffer;
using tg::test::error_of;
using tg::test::has;
namespace cpu = tg::kernels::cpu;
namespace gpu = tg::kernels::cuda;

namespace {

using GemmFn = cpu::GemmFn;  // the CUDA functions share the CPU signature

struct Impl {
  const char* name;  // as the functions name themselves in errors
  GemmFn fn;
};
const Impl kCublas{"cuda::gemm", static_cast<GemmFn>(gpu::gemm)};
const Impl kNaive{"cuda::gemm_naive", gpu::gemm_naive};
const Impl kCoalesced{"cuda::gemm_coalesced", gpu::gemm_coalesced};
const Impl kSmem{"cuda::gemm_smem", gpu::gemm_smem};
const Impl kRegtile{"cuda::gemm_regtile", gpu::gemm_regtile};
const Impl kVec{"cuda::gemm_vec", gpu::gemm_vec};
const Impl kAll[] = {kCublas, kNaive, kCoalesced, kSmem, kRegtile, kVec};

enum class Layout { dense, padded, odd };
const Layout kLayouts[] = {Layout::dense, Layout::padded, Layout::odd};
const char* name_of(Layout l) {
  return l == Layout::dense ? "dense" : l == Layout::padded ? "padded" : "odd";
}
int64_t ld_for(int64_t cols, Layout l) {
  switch (l) {
    case Layout::dense:
      return cols;
    case Layout::padded:
      return (cols + 4) / 4 * 4;  // > cols, a multiple of 4
    case Layout::odd:
      return cols + 3;
  }
  return cols;
}
// Elements before a matrix's first one: 1 float misaligns the base for float4 loads.
int64_t offset_for(Layout l) {
  return l == Layout::odd ? 1 : 0;
}

struct Shape {
  int64_t m, n, k;
};
// One element; odd sizes inside one tile; just past 32/64 tiles; just around 128; many row
// tiles with a thin n; and full 128 x 128 tiles with k a multiple of 8.
const Shape kShapes[] = {{1, 1, 1},       {7, 5, 3},       {33, 65, 17},
                         {127, 129, 131}, {1023, 33, 257}, {256, 256, 256}};

constexpr float kSentinel = 12345.0f;

// Seeded values in [-1, 1).
struct Lcg {
  uint32_t s;
  double next() {
    s = s * 1664525u + 1013904223u;
    return -1.0 + 2.0 * (double(s >> 8) / double(1 << 24));
  }
};

// One GEMM problem in row-major storage with padding (see the file comment), its reference in
// double and the error bound of each element.
template <typename T>
struct Problem {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc, off;
  T alpha, beta;
  std::vector<T> a, b, c;          // whole buffers; the matrices start at element off
  std::vector<double> ref, bound;  // m x n, dense

  Problem(bool ta_, bool tb_, Shape s, T alpha_, T beta_, Layout layout, uint32_t seed)
      : ta(ta_), tb(tb_), m(s.m), n(s.n), k(s.k), alpha(alpha_), beta(beta_) {
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    lda = ld_for(a_cols, layout);
    ldb = ld_for(b_cols, layout);
    ldc = ld_for(n, layout);
    off = offset_for(layout);
    Lcg gen{seed};
    const T nan = std::numeric_limits<T>::quiet_NaN();
    auto fill = [&](std::vector<T>& v, int64_t rows, int64_t cols, int64_t ld, T padding,
                    bool random) {
      v.assign(size_t(std::max<int64_t>(off + rows * ld, 1)), padding);  // never empty
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          v[size_t(off + i * ld + j)] = random ? T(gen.next()) : nan;
    };
    fill(a, a_rows, a_cols, lda, nan, true);
    fill(b, b_rows, b_cols, ldb, nan, true);
    fill(c, m, n, ldc, kSentinel, beta != T(0));  // beta == 0: C holds NaN, must not be read
    compute_reference();
  }

  // ref = alpha op(A) op(B) + beta C and bound = |alpha| |op(A)| |op(B)| + |beta C|, both by
  // the CPU's double gemm (which, like BLAS, reads neither A nor B when alpha == 0 and not C
  // when beta == 0).
  void compute_reference() {
    std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
    cpu::gemm(ta, tb, m, n, k, double(alpha), ad.data() + off, lda, bd.data() + off, ldb,
              double(beta), cd.data() + off, ldc);
    for (auto* v : {&ad, &bd}) {
      for (double& x : *v) x = std::fabs(x);
    }
    std::vector<double> bc(c.size());
    for (size_t i = 0; i < c.size(); ++i) bc[i] = std::fabs(double(c[i]));
    cpu::gemm(ta, tb, m, n, k, std::fabs(double(alpha)), ad.data() + off, lda, bd.data() + off, ldb,
              std::fabs(double(beta)), bc.data() + off, ldc);
    ref.resize(size_t(m * n));
    bound.resize(size_t(m * n));
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        ref[size_t(i * n + j)] = cd[size_t(off + i * ldc + j)];
        bound[size_t(i * n + j)] = bc[size_t(off + i * ldc + j)];
      }
    }
  }

  // Runs fn on the device (A, B, C uploaded afresh) and returns C's whole buffer.
  template <typename Fn>
  std::vector<T> run(Fn fn) const {
    DeviceBuffer<T> da(a), db(b), dc(c);
    fn(ta, tb, m, n, k, alpha, da.data() + off, lda, db.data() + off, ldb, beta, dc.data() + off,
       ldc);
    return dc.download();
  }

  // Counts the elements of C farther than rel * bound from the reference, and the elements
  // outside C (padding, offset) that changed; describes the first problem in *first.
  int64_t mismatches(const std::vector<T>& got, double rel, std::string* first) const {
    int64_t bad = 0;
    auto report = [&](const std::string& what) {
      if (bad++ == 0) *first = what;
    };
    for (size_t e = 0; e < got.size(); ++e) {
      const int64_t rel_e = int64_t(e) - off;
      const int64_t i = rel_e >= 0 ? rel_e / ldc : -1, j = rel_e >= 0 ? rel_e % ldc : -1;
      if (i >= 0 && i < m && j < n) {
        const double want = ref[size_t(i * n + j)], g = double(got[e]);
        const double tol = rel * bound[size_t(i * n + j)] + 1e-30;
        if (!(std::fabs(g - want) <= tol)) {
          report("C(" + std::to_string(i) + ", " + std::to_string(j) + ") = " + std::to_string(g) +
                 ", want " + std::to_string(want) + " +- " + std::to_string(tol));
        }
      } else if (std::memcmp(&got[e], &c[e], sizeof(T)) != 0) {
        report("element " + std::to_string(e) + " outside C changed to " +
               std::to_string(double(got[e])));
      }
    }
    return bad;
  }

  std::string describe(const char* impl, Layout layout) const {
    return std::string(impl) + (ta ? " At" : " A") + (tb ? "Bt" : "B") + " m=" + std::to_string(m) +
           " n=" + std::to_string(n) + " k=" + std::to_string(k) +
           " alpha=" + std::to_string(double(alpha)) + " beta=" + std::to_string(double(beta)) +
           " " + name_of(layout);
  }
};

// (k + 3) eps: the relative tolerance against the bound (see the file comment).
double float_tolerance(int64_t k) {
  return double(k + 3) * std::numeric_limits<float>::epsilon();
}

template <typename T, typename Fn>
void check_problem(const Problem<T>& p, Fn fn, const char* name, Layout layout, double rel) {
  std::string first;
  const int64_t bad = p.mismatches(p.run(fn), rel, &first);
  INFO(p.describe(name, layout), ": ", bad, " bad elements, first: ", first);
  CHECK(bad == 0);
}

// Every size, transpose combination, layout and beta in {0, 0.5} (alpha -0.75 or 1.5).
void check_all_shapes(const Impl& impl) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    for (int t = 0; t < 4; ++t) {
      for (Layout layout : kLayouts) {
        for (float beta : {0.0f, 0.5f}) {
          const float alpha = beta == 0.0f ? -0.75f : 1.5f;
          const Problem<float> p(t & 1, t & 2, s, alpha, beta, layout, seed++);
          check_problem(p, impl.fn, impl.name, layout, float_tolerance(s.k));
        }
      }
    }
  }
}

// Sets allow_tf32 for a scope and restores the previous setting however the scope ends.
class Tf32Scope {
 public:
  explicit Tf32Scope(bool allow) : saved_(gpu::allow_tf32()) { gpu::set_allow_tf32(allow); }
  ~Tf32Scope() { gpu::set_allow_tf32(saved_); }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool saved_;
};

}  // namespace

TEST_CASE("cuda gemm, cuBLAS: matches the CPU on odd sizes, transposes, padding and beta") {
  TG_SKIP_WITHOUT_CUDA();
  CHECK_FALSE(gpu::allow_tf32());  // float32 math unless asked for
  check_all_shapes(kCublas);
}

TEST_CASE("cuda gemm rung 1, naive: matches the CPU on odd sizes, transposes, padding and beta") {
  TG_SKIP_WITHOUT_CUDA();
  check_all_shapes(kNaive);
}

TEST_CASE("cuda gemm rung 2, coalesced: matches the CPU on odd sizes, transposes, padding, beta") {
  TG_SKIP_WITHOUT_CUDA();
  check_all_shapes(kCoalesced);
}

TEST_CASE("cuda gemm rung 3, smem: matches the CPU on odd sizes, transposes, padding and beta") {
  TG_SKIP_WITHOUT_CUDA();
  check_all_shapes(kSmem);
}

TEST_CASE("cuda gemm rung 4, regtile: matches the CPU on odd sizes, transposes, padding, beta") {
  TG_SKIP_WITHOUT_CUDA();
  check_all_shapes(kRegtile);
}

TEST_CASE("cuda gemm rung 5, vec: matches the CPU on odd sizes, transposes, padding and beta") {
  TG_SKIP_WITHOUT_CUDA();
  check_all_shapes(kVec);
}

TEST_CASE("cuda gemm rung 5, vec: several k steps with float4 and scalar edges on each side") {
  TG_SKIP_WITHOUT_CUDA();
  // Sizes one past and one short of 128-tiles and of float4 pieces, k not a multiple of 8
  // or of 4, on the padded layout (float4 inside, scalars at the edges).
  const Shape shapes[] = {{129, 257, 67}, {255, 131, 70}, {130, 126, 1}, {4, 4, 4}, {5, 3, 9}};
  uint32_t seed = 500;
  for (const Shape& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      for (Layout layout : kLayouts) {
        const Problem<float> p(t & 1, t & 2, s, 0.5f, 2.0f, layout, seed++);
        check_problem(p, kVec.fn, kVec.name, layout, float_tolerance(s.k));
      }
    }
  }
}

TEST_CASE("cuda gemm: k == 0 or alpha == 0 give beta * C and read neither A nor B") {
  TG_SKIP_WITHOUT_CUDA();
  uint32_t seed = 900;
  for (const Impl& impl : kAll) {
    for (int t = 0; t < 4; ++t) {
      for (float beta : {0.0f, 0.5f, 1.0f}) {
        // k == 0: nothing to sum; C = beta * C (zeros when beta == 0, over NaN).
        const Problem<float> p0(t & 1, t & 2, {9, 35, 0}, 1.0f, beta, Layout::padded, seed++);
        check_problem(p0, impl.fn, impl.name, Layout::padded, float_tolerance(0));
        // alpha == 0 with A and B full of NaN: reading them would poison C.
        Problem<float> p(t & 1, t & 2, {33, 17, 5}, 0.0f, beta, Layout::padded, seed++);
        std::fill(p.a.begin(), p.a.end(), std::numeric_limits<float>::quiet_NaN());
        std::fill(p.b.begin(), p.b.end(), std::numeric_limits<float>::quiet_NaN());
        p.compute_reference();
        check_problem(p, impl.fn, impl.name, Layout::padded, float_tolerance(5));
      }
    }
    // Empty results launch nothing and touch nothing, null pointers included.
    INFO(impl.name);
    CHECK_NOTHROW(impl.fn(false, false, 0, 5, 3, 1.0f, nullptr, 3, nullptr, 5, 0.0f, nullptr, 5));
    CHECK_NOTHROW(impl.fn(true, true, 4, 0, 3, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 0));
    CHECK_NOTHROW(gpu::synchronize());
  }
}

TEST_CASE("cuda gemm, cuBLAS: TF32 only when allowed, within TF32 rounding, then off again") {
  TG_SKIP_WITHOUT_CUDA();
  REQUIRE_FALSE(gpu::allow_tf32());
  // TF32 keeps 10 mantissa bits: each operand is off by up to 2^-11 relative (2^-10 if the
  // hardware truncates), so each product by up to ~2^-9; 2^-8 leaves a factor of two.
  const double tf32_rel = std::ldexp(1.0, -8);
  uint32_t seed = 700;
  {
    Tf32Scope scope(true);
    CHECK(gpu::allow_tf32());
    for (const Shape& s : {Shape{256, 256, 256}, Shape{127, 129, 131}, Shape{1023, 33, 257}}) {
      for (int t = 0; t < 4; ++t) {
        const Problem<float> p(t & 1, t & 2, s, 1.5f, 0.5f, Layout::padded, seed++);
        check_problem(p, kCublas.fn, "cuda::gemm with TF32", Layout::padded,
                      tf32_rel + float_tolerance(s.k));
        // The ladder never uses tensor cores: still float32 accurate with TF32 allowed.
        check_problem(p, kVec.fn, kVec.name, Layout::padded, float_tolerance(s.k));
      }
    }
  }
  CHECK_FALSE(gpu::allow_tf32());
  // And back to float32 accuracy.
  const Problem<float> p(false, false, {256, 256, 256}, 1.0f, 0.0f, Layout::dense, seed++);
  check_problem(p, kCublas.fn, kCublas.name, Layout::dense, float_tolerance(256));
}

TEST_CASE("cuda gemm, cuBLAS double: matches the CPU double gemm") {
  TG_SKIP_WITHOUT_CUDA();
  using DFn = void (*)(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                       const double*, int64_t, double, double*, int64_t);
  const DFn dgemm = gpu::gemm;
  uint32_t seed = 300;
  for (const Shape& s : kShapes) {
    for (int t = 0; t < 4; ++t) {
      for (double beta : {0.0, 0.5}) {
        const Problem<double> p(t & 1, t & 2, s, -1.25, beta, Layout::odd, seed++);
        // Both sides round in double: twice the bound of one.
        check_problem(p, dgemm, "cuda::gemm<double>", Layout::odd,
                      2.0 * double(s.k + 3) * std::numeric_limits<double>::epsilon());
      }
    }
  }
}

TEST_CASE("cuda gemm: bad sizes and leading dimensions throw tg::Error naming the function") {
  TG_SKIP_WITHOUT_CUDA();
  // The checks run on the host before anything touches the pointers.
  for (const Impl& impl : kAll) {
    const std::string op = std::string(impl.name) + ":";
    auto call = [&](bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                    int64_t ldc) {
      return error_of(
          [&] { impl.fn(ta, tb, m, n, k, 1.0f, nullptr, lda, nullptr, ldb, 0.0f, nullptr, ldc); });
    };
    INFO(impl.name);
    std::string msg = call(false, false, -1, 4, 4, 4, 4, 4);
    CHECK(has(msg, op));
    CHECK(has(msg, "negative size"));
    CHECK(has(call(false, false, 4, 4, -2, 4, 4, 4), "negative size"));
    msg = call(false, false, 4, 5, 6, 5, 5, 5);  // A is 4 x 6: lda >= 6
    CHECK(has(msg, op));
    CHECK(has(msg, "lda=5 < 6"));
    CHECK(has(call(true, false, 4, 5, 6, 3, 5, 5), "lda=3 < 4"));   // A stored 6 x 4
    CHECK(has(call(false, false, 4, 5, 6, 6, 4, 5), "ldb=4 < 5"));  // B is 6 x 5
    CHECK(has(call(false, true, 4, 5, 6, 6, 5, 5), "ldb=5 < 6"));   // B stored 5 x 6
    msg = call(false, false, 4, 5, 6, 6, 5, 4);
    CHECK(has(msg, op));
    CHECK(has(msg, "ldc=4 < n=5"));
    CHECK(has(call(false, false, 4, 5, 6, 6, 5, 5), "null"));  // valid sizes, null pointers
  }
  using DFn = void (*)(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                       const double*, int64_t, double, double*, int64_t);
  const DFn dgemm = gpu::gemm;
  const std::string msg =
      error_of([&] { dgemm(false, false, 2, 2, 2, 1.0, nullptr, 1, nullptr, 2, 0.0, nullptr, 2); });
  CHECK(has(msg, "cuda::gemm<double>:"));
  CHECK(has(msg, "lda=1 < 2"));
}
