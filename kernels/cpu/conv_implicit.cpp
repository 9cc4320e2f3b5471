// Conv2d rung 3, implicit GEMM for small images (float): the forward, the weight gradient and
// the input gradient without a column matrix. See kernels/conv.h for the contract. (The library
// uses the first two; its input gradient is rung 2's, faster on the course's layers.)
//
// Why: on the course CNN's layers (output planes of 14x14 down to 2x2, 8 to 32 channels) rung 2
// spends about half its forward in the lowering (a gather of K*P elements per image) and the
// GEMM runs with few rows (O = 8..32 against a 14-row micro-kernel). Here the GEMM's A operand,
// the lowered input, is never written: each of its elements is loaded straight from a
// zero-padded copy of the image and broadcast, and the output channels are the vector lanes.
//
//   forward  y[n, o, pixel] = sum_k A[(n, pixel), k] * W[o, k],  k = (c, p, q)
//            A[(n, pixel), k] = xpad[n][c][i*SH + p*DH][j*SW + q*DW]  (pixel = (i, j))
//   A tile of MB pixels x OB output channels (AVX-512: 14 x 32, 28 zmm accumulators) runs over
//   all k: per k, OB/VW vector loads of the packed weight and MB broadcasts of A, MB*OB/VW FMAs.
//   A block of pixels may span images (the chunk's padded images lie one after another), so a
//   2x2 output plane still fills the tile.
//   weight   gW[o, k] = sum_{n, pixel} gy[n, o, pixel] * A[(n, pixel), k]: the same tile with the
//            roles of pixels and k swapped (KB taps x OB channels, summed over the pixels), gy
//            transposed per chunk into (pixel, OB) rows first.
// Threads: the forward shares (chunk, group) items; the weight gradient shares fixed ranges of
// chunks, each summed into its own partial and the partials added in range order. Every sum
// runs in a fixed order (k ascending; pixels ascending within a chunk, chunks ascending), so
// results do not depend on OMP_NUM_THREADS. They differ from rungs 1-2 (another summation
// order) by rounding only.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/common.h"

namespace tg::kernels::cpu {

namespace {

#if defined(__AVX512F__)
constexpr int kVW = 16, kMB = 14;  // 14 x 2 zmm accumulators + 2 weight vectors + 1 broadcast
#elif defined(__AVX2__)
constexpr int kVW = 8, kMB = 6;  // 6 x 2 ymm accumulators + 2 + 1 of 16
#else
constexpr int kVW = 4, kMB = 6;  // 6 x 2 xmm
#endif
// Output channels per tile: NV vectors of L lanes: 2 of kVW (AVX-512: 32 channels), 1 when O/g
// fits one vector (the course CNN's 16-channel layer would leave half a 32-wide tile empty),
// or 1 of kVW / 2 when O/g fits that (its 8-channel first layer: on a Zen 4, whose 512-bit FMA
// takes both 256-bit pipes, a full 8-lane FMA does the work of a half-empty 16-lane one, twice
// as often; no CPU does fewer useful multiply-adds that way). The lane count never changes a
// sum: each lane adds its own products in ascending k.
// (A typedef in a class template: GCC drops a dependent vector_size on an alias template.)
template <int L>
struct VecOf {
  typedef float type __attribute__((vector_size(L * sizeof(float))));
};
template <int L>
using VecN = typename VecOf<L>::type;
static_assert(sizeof(VecN<kVW>) == kVW * sizeof(float) &&
              sizeof(VecN<kVW / 2>) * 2 == sizeof(VecN<kVW>));

template <int L>
VecN<L> load(const float* p) {
  VecN<L> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <int L>
void store(float* p, VecN<L> v) {
  std::memcpy(p, &v, sizeof(v));
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Images per work item: about kTargetPixels output pixels, at least kMinChunks items when the
// batch allows. A function of the shape alone.
constexpr int64_t kTargetPixels = 448, kMinChunks = 4, kRanges = 8;

// Images per work item for `pixels` tile rows per image and a batch of n.
int64_t images_per_item(int64_t pixels, int64_t n) {
  return std::clamp<int64_t>(std::min(ceil_div(kTargetPixels, pixels), ceil_div(n, kMinChunks)), 1,
                             std::max<int64_t>(n, 1));
}

// The lanes of a tile for `channels` channels: vectors of vw lanes (kVW, or kVW / 2 when the
// channels fit that), nv of them (1 or 2), obw = nv * vw channels per block.
struct Lanes {
  int64_t vw, nv, obw;
  explicit Lanes(int64_t channels)
      : vw(channels <= kVW / 2 ? kVW / 2 : kVW), nv(channels <= kVW ? 1 : 2), obw(nv * vw) {}
};

struct Implicit : Lanes {  // the output channels in the lanes
  int64_t P, K, og, cg, hp, wp, plane, image_pad, B, chunks, nob;
  std::vector<int32_t> off;  // K: offset of tap k = (c, p, q) in a padded image
  explicit Implicit(const Conv2dShape& s)
      : Lanes(s.og()),
        P(s.out_h() * s.out_w()),
        K(s.kdim()),
        og(s.og()),
        cg(s.cg()),
        hp(s.h + 2 * s.ph),
        wp(s.w + 2 * s.pw),
        plane(hp * wp),
        image_pad(cg * plane),
        B(images_per_item(P, s.n)),
        chunks(ceil_div(s.n, B)),
        nob(ceil_div(og, obw)) {
    off.resize(size_t(K));
    for (int64_t c = 0, k = 0; c < cg; ++c)
      for (int64_t p = 0; p < s.kh; ++p)
        for (int64_t q = 0; q < s.kw; ++q)
          off[size_t(k++)] = int32_t(c * plane + p * s.dh * wp + q * s.dw);
  }
  // The offset in the chunk's padded images of every output pixel of nb images, in order,
  // into out[0, nb*P). By counting: a division per pixel had cost as much as the
  // multiply-adds of an 8-channel tile.
  void bases(const Conv2dShape& s, int64_t nb, int64_t* out) const {
    const int64_t oh = s.out_h(), ow = s.out_w();  // (each call divides)
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) *out++ = b * image_pad + i * s.sh * wp + j * s.sw;
  }
};

// Images [n0, n0 + nb) of group g, zero-padded, one after another into pad.
void pad_images(const Conv2dShape& s, const Implicit& im, const float* x, int64_t n0, int64_t nb,
                int64_t g, float* pad) {
  detail::pad_planes(x + (n0 * s.c + g * im.cg) * s.h * s.w, s.c * s.h * s.w, nb, im.cg, s.h, s.w,
                     im.wp, im.plane, s.ph, s.pw, pad);
}

// The weight as [g][ob][k][obw] (zeros past O/g): one tile row per k.
std::vector<float> pack_weight(const Conv2dShape& s, const Implicit& im, const float* w) {
  std::vector<float> pw(size_t(s.groups * im.nob * im.K * im.obw), 0.0f);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t o = 0; o < im.og; ++o) {
      const int64_t ob = o / im.obw, lane = o % im.obw;
      const float* wo = w + (g * im.og + o) * im.K;
      float* dst = pw.data() + ((g * im.nob + ob) * im.K) * im.obw + lane;
      for (int64_t k = 0; k < im.K; ++k) dst[k * im.obw] = wo[k];
    }
  return pw;
}

// out[m][v] = sum_k pad[base[m] + off[k]] * wk[k][v], for the kMB pixels at base; NV*L
// channels, rows of wk and out NV*L apart.
template <int L, int NV>
void forward_tile(const float* pad, const int64_t* base, const int32_t* off, int64_t K,
                  const float* wk, float* out) {
  constexpr int64_t W = NV * L;
  VecN<L> acc[kMB][NV] = {};
  for (int64_t k = 0; k < K; ++k) {
    VecN<L> wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = load<L>(wk + k * W + v * L);
    const float* xk = pad + off[k];
#pragma GCC unroll 16
    for (int m = 0; m < kMB; ++m) {
      const float a = xk[base[m]];
      for (int v = 0; v < NV; ++v) acc[m][v] += a * wv[v];
    }
  }
  for (int m = 0; m < kMB; ++m)
    for (int v = 0; v < NV; ++v) store<L>(out + m * W + v * L, acc[m][v]);
}

// acc[kk][v] += sum_m pad[base[m] + off[kk]] * gyt[m][v] for kMB taps (off) over M pixels;
// NV*L channels, gyt's rows NV*L apart, acc_io's ld apart.
template <int L, int NV>
void weight_tile(const float* pad, const int64_t* base, int64_t M, const int32_t* off,
                 const float* gyt, float* acc_io, int64_t ld) {
  constexpr int64_t W = NV * L;
  VecN<L> acc[kMB][NV];
  for (int kk = 0; kk < kMB; ++kk)
    for (int v = 0; v < NV; ++v) acc[kk][v] = load<L>(acc_io + kk * ld + v * L);
  for (int64_t m = 0; m < M; ++m) {
    VecN<L> gv[NV];
    for (int v = 0; v < NV; ++v) gv[v] = load<L>(gyt + m * W + v * L);
    const float* xm = pad + base[m];
#pragma GCC unroll 16
    for (int kk = 0; kk < kMB; ++kk) {
      const float a = xm[off[kk]];
      for (int v = 0; v < NV; ++v) acc[kk][v] += a * gv[v];
    }
  }
  for (int kk = 0; kk < kMB; ++kk)
    for (int v = 0; v < NV; ++v) store<L>(acc_io + kk * ld + v * L, acc[kk][v]);
}

// Runs body(item, thread_scratch) for item in [0, items) over OpenMP threads (in order on one
// thread when there are too few items), each thread with its own scratch of `scratch` floats:
// the thread's reusable buffer (kernels/cpu/common.h), uninitialised (every pass writes what
// it reads).
template <typename Body>
void for_items(int64_t items, int64_t scratch, const Body& body) {
  std::exception_ptr error;
  const bool parallel = items >= 2 && omp_get_max_threads() > 1;
#pragma omp parallel if (parallel)
  {
    try {
      float* buf = detail::scratch<float, 21>(scratch);
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < items; ++it) body(it, buf);
    } catch (...) {
#pragma omp critical(tg_conv_implicit_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Backward input as an implicit GEMM (the transposed convolution). The input pixels fall into
// SH x SW classes by (h mod SH, w mod SW); every pixel of a class is reached by the same taps
// (p, q) of the kernel, each from the output pixel (r + e_p, t + f_q) for the pixel's index
// (r, t) within its class. So with gy zero-padded (rows top/bottom, columns left/right, the
// range those offsets need), a class is an ordinary implicit GEMM:
//   gx[n, c, a + SH*r, b + SW*t] = sum_{o, p in P_a, q in Q_b}
//                                  gypad[n][o][r + e_p + top][t + f_q + left] * w[o, c, p, q]
// with the input channels as the vector lanes: forward_tile runs it unchanged, with the
// class's taps as its k. No multiply-add lands on a zero inserted between the output pixels,
// and no column matrix is written or scattered.
struct Transposed : Lanes {  // the input channels in the lanes
  struct Class {
    int64_t a, b, rows, cols;  // the pixels h = a + SH*r (r < rows), w = b + SW*t (t < cols)
    std::vector<int32_t> off;  // per tap k = (o, p, q): offset in a padded gy image
    std::vector<float> wt;     // [g][cb][k][obw]: w[o, c, p, q] with c in the lanes
  };
  int64_t cg, og, top = 0, left = 0, hpg = 0, wpg = 0, plane = 0, image_pad = 0, B, chunks, ncb;
  std::vector<Class> classes;

  Transposed(const Conv2dShape& s, const float* w)
      : Lanes(s.cg()),
        cg(s.cg()),
        og(s.og()),
        B(images_per_item(s.h * s.w, s.n)),
        chunks(ceil_div(s.n, B)),
        ncb(ceil_div(cg, obw)) {
    auto count = [](int64_t a, int64_t n, int64_t stride) {
      return a < n ? (n - 1 - a) / stride + 1 : 0;
    };
    // One axis (n input positions, out output positions): for each residue a modulo the
    // stride, the taps reaching it, (tap, e) with a + pad - tap*d = e*stride; and the padding
    // of gy that the offsets (index within the class) + e need below 0 (lo) and past out-1 (hi).
    using Taps = std::vector<std::pair<int64_t, int64_t>>;
    auto axis = [&](int64_t n, int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t d,
                    int64_t& lo) {
      std::vector<Taps> per_residue(static_cast<size_t>(stride));
      int64_t hi = 0;
      for (int64_t a = 0; a < stride; ++a)
        for (int64_t t = 0; t < k; ++t)
          if ((a + pad - t * d) % stride == 0) {
            const int64_t e = (a + pad - t * d) / stride;
            per_residue[size_t(a)].push_back({t, e});
            lo = std::max(lo, -e);
            hi = std::max(hi, count(a, n, stride) - 1 + e - (out - 1));
          }
      return std::pair{per_residue, hi};
    };
    const auto [row_taps, bottom] = axis(s.h, s.out_h(), s.kh, s.sh, s.ph, s.dh, top);
    const auto [col_taps, right] = axis(s.w, s.out_w(), s.kw, s.sw, s.pw, s.dw, left);
    hpg = s.out_h() + top + bottom, wpg = s.out_w() + left + right;
    plane = hpg * wpg, image_pad = og * plane;
    for (int64_t a = 0; a < s.sh; ++a)
      for (int64_t b = 0; b < s.sw; ++b) {
        Class cl{a, b, count(a, s.h, s.sh), count(b, s.w, s.sw), {}, {}};
        if (cl.rows == 0 || cl.cols == 0) continue;
        const Taps &rt = row_taps[size_t(a)], &ct = col_taps[size_t(b)];
        const int64_t K = og * int64_t(rt.size() * ct.size());
        for (int64_t o = 0; o < og; ++o)
          for (const auto& [p, e] : rt)
            for (const auto& [q, f] : ct)
              cl.off.push_back(int32_t(o * plane + (e + top) * wpg + (f + left)));
        cl.wt.assign(size_t(s.groups * ncb * K * obw), 0.0f);
        for (int64_t g = 0; g < s.groups; ++g)
          for (int64_t c = 0; c < cg; ++c) {
            const int64_t cb = c / obw, lane = c % obw;
            float* dst = cl.wt.data() + (g * ncb + cb) * K * obw + lane;
            int64_t k = 0;
            for (int64_t o = 0; o < og; ++o)
              for (const auto& tp : rt)
                for (const auto& tq : ct)
                  dst[(k++) * obw] =
                      w[(((g * og + o) * cg + c) * s.kh + tp.first) * s.kw + tq.first];
          }
        classes.push_back(std::move(cl));
      }
  }

  // Images [n0, n0 + nb) of gy's group g, zero-padded, one after another into pad.
  void pad_gy(const Conv2dShape& s, const float* gy, int64_t n0, int64_t nb, int64_t g,
              float* pad) const {
    const int64_t P = s.out_h() * s.out_w();
    detail::pad_planes(gy + (n0 * s.o + g * og) * P, s.o * P, nb, og, s.out_h(), s.out_w(), wpg,
                       plane, top, left, pad);
  }
};

}  // namespace

bool conv2d_implicit_applies(const Conv2dShape& s) {
  if (s.out_w() >= 16) return false;  // wide rows: rung 2's runs and GEMM do better
  const int64_t hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
  return s.cg() * hp * wp * std::max<int64_t>(s.n, 1) < (int64_t(1) << 30) && s.kdim() < (1 << 20);
}

void conv2d_implicit(const Conv2dShape& s, const float* x, const float* w, const float* b,
                     float* y) {
  kernels::detail::conv2d_check("conv2d_implicit", s);
  const Implicit im(s);
  const std::vector<float> pw = pack_weight(s, im, w);
  const int64_t scratch = im.B * im.image_pad + kMB * im.obw;
  const int64_t oh = s.out_h(), ow = s.out_w();  // (each call divides)
  for_items(im.chunks * s.groups, scratch, [&](int64_t it, float* buf) {
    const int64_t ch = it / s.groups, g = it % s.groups;
    const int64_t n0 = ch * im.B, nb = std::min(im.B, s.n - n0), M = nb * im.P;
    float* pad = buf;
    float* tile = buf + im.B * im.image_pad;
    pad_images(s, im, x, n0, nb, g, pad);
    int64_t base[kMB];
    // The tile's first pixel: image img0, row i0, column j0; the others follow by counting (a
    // division per pixel had cost as much as the multiply-adds of an 8-channel tile).
    for (int64_t m0 = 0, img0 = 0, i0 = 0, j0 = 0; m0 < M; m0 += kMB) {
      const int64_t mb = std::min<int64_t>(kMB, M - m0);
      for (int64_t m = 0, b0 = img0, i = i0, j = j0; m < kMB; ++m) {
        base[m] = b0 * im.image_pad + i * s.sh * im.wp + j * s.sw;
        if (m + 1 >= mb) continue;  // past the end: the last pixel again, not stored
        if (++j == ow && (j = 0, ++i == oh)) i = 0, ++b0;
      }
      for (int64_t ob = 0; ob < im.nob; ++ob) {
        const float* wk = pw.data() + ((g * im.nob + ob) * im.K) * im.obw;
        if (im.vw < kVW)
          forward_tile<kVW / 2, 1>(pad, base, im.off.data(), im.K, wk, tile);
        else if (im.nv == 1)
          forward_tile<kVW, 1>(pad, base, im.off.data(), im.K, wk, tile);
        else
          forward_tile<kVW, 2>(pad, base, im.off.data(), im.K, wk, tile);
        // The tile is [pixel][channel]; y is [channel][pixel]: written channel by channel,
        // in runs of the tile's pixels that lie in one image, so consecutive stores fill one
        // cache line (pixel-major stores, one per channel row, were a third of this loop).
        const int64_t o_end = std::min<int64_t>(im.obw, im.og - ob * im.obw);
        for (int64_t m = 0, bimg = img0, pix = i0 * ow + j0; m < mb; ++bimg, pix = 0) {
          const int64_t run = std::min(mb - m, im.P - pix);
          float* yo = y + ((n0 + bimg) * s.o + g * im.og + ob * im.obw) * im.P + pix;
          const float* t = tile + m * im.obw;
          for (int64_t o = 0; o < o_end; ++o) {
            const float bias = b ? b[g * im.og + ob * im.obw + o] : 0.0f;
            for (int64_t r = 0; r < run; ++r) yo[o * im.P + r] = t[r * im.obw + o] + bias;
          }
          m += run;
        }
      }
      for (j0 += kMB; j0 >= ow;) {  // the next tile's first pixel
        j0 -= ow;
        if (++i0 == oh) i0 = 0, ++img0;
      }
    }
  });
}

void conv2d_backward_weight_implicit(const Conv2dShape& s, const float* x, const float* gy,
                                     float* gw) {
  kernels::detail::conv2d_check("conv2d_backward_weight_implicit", s);
  const Implicit im(s);
  const int64_t ranges = std::max<int64_t>(1, std::min(kRanges, im.chunks));
  const int64_t kblocks = ceil_div(im.K, kMB);
  // Per (range, group): an accumulator [kblocks * kMB][nob * im.obw], k-major.
  const int64_t acc_size = kblocks * kMB * im.nob * im.obw;
  std::vector<float> acc(size_t(ranges * s.groups * acc_size), 0.0f);
  // Taps past K read tap K-1 again (results dropped).
  std::vector<int32_t> off(size_t(kblocks * kMB));
  for (int64_t k = 0; k < kblocks * kMB; ++k)
    off[size_t(k)] = im.off[size_t(std::min(k, im.K - 1))];
  const int64_t max_m = im.B * im.P;
  const int64_t scratch = im.B * im.image_pad + max_m * im.obw;
  for_items(ranges * s.groups, scratch, [&](int64_t it, float* buf) {
    const int64_t r = it / s.groups, g = it % s.groups;
    float* a = acc.data() + it * acc_size;
    float* pad = buf;
    float* gyt = buf + im.B * im.image_pad;
    std::vector<int64_t> base(static_cast<size_t>(max_m));
    const int64_t c0 = im.chunks * r / ranges, c1 = im.chunks * (r + 1) / ranges;
    for (int64_t ch = c0; ch < c1; ++ch) {
      const int64_t n0 = ch * im.B, nb = std::min(im.B, s.n - n0), M = nb * im.P;
      pad_images(s, im, x, n0, nb, g, pad);
      im.bases(s, nb, base.data());
      for (int64_t ob = 0; ob < im.nob; ++ob) {
        const int64_t o_end = std::min<int64_t>(im.obw, im.og - ob * im.obw);
        // gyt[m][o]: the chunk's gy for this block of channels, zeros past O/g.
        // Image by image, channel by channel: gy's rows are read in order (one element per
        // channel row per pixel was most of this loop's time).
        for (int64_t bimg = 0; bimg < nb; ++bimg) {
          const float* src = gy + ((n0 + bimg) * s.o + g * im.og + ob * im.obw) * im.P;
          float* rows = gyt + bimg * im.P * im.obw;
          for (int64_t o = 0; o < im.obw; ++o)
            for (int64_t pix = 0; pix < im.P; ++pix)
              rows[pix * im.obw + o] = o < o_end ? src[o * im.P + pix] : 0.0f;
        }
        for (int64_t kb = 0; kb < kblocks; ++kb) {
          float* dst = a + (kb * kMB) * im.nob * im.obw + ob * im.obw;
          const int32_t* o = off.data() + kb * kMB;
          const int64_t ld = im.nob * im.obw;
          if (im.vw < kVW)
            weight_tile<kVW / 2, 1>(pad, base.data(), M, o, gyt, dst, ld);
          else if (im.nv == 1)
            weight_tile<kVW, 1>(pad, base.data(), M, o, gyt, dst, ld);
          else
            weight_tile<kVW, 2>(pad, base.data(), M, o, gyt, dst, ld);
        }
      }
    }
  });
  // gw[g*og + o][k] = the ranges' accumulators, added in range order.
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t o = 0; o < im.og; ++o) {
      const int64_t ob = o / im.obw, lane = o % im.obw;
      float* dst = gw + (g * im.og + o) * im.K;
      for (int64_t k = 0; k < im.K; ++k) {
        float sum = 0.0f;
        for (int64_t r = 0; r < ranges; ++r)
          sum += acc[size_t((r * s.groups + g) * acc_size + (k * im.nob + ob) * im.obw + lane)];
        dst[k] = sum;
      }
    }
}

void conv2d_backward_input_implicit(const Conv2dShape& s, const float* gy, const float* w,
                                    float* gx) {
  kernels::detail::conv2d_check("conv2d_backward_input_implicit", s);
  const Transposed tr(s, w);
  const int64_t scratch = tr.B * tr.image_pad + kMB * tr.obw;
  const int64_t image = s.h * s.w;
  for_items(tr.chunks * s.groups, scratch, [&](int64_t it, float* buf) {
    const int64_t ch = it / s.groups, g = it % s.groups;
    const int64_t n0 = ch * tr.B, nb = std::min(tr.B, s.n - n0);
    float* pad = buf;
    float* tile = buf + tr.B * tr.image_pad;
    tr.pad_gy(s, gy, n0, nb, g, pad);
    for (const Transposed::Class& cl : tr.classes) {
      const int64_t M = nb * cl.rows * cl.cols, K = int64_t(cl.off.size());
      int64_t base[kMB], dst[kMB];  // per pixel of the tile: offset in pad, and in gx's plane
      // The tile's first pixel (image img0, class row r0, class column t0); the others by
      // counting. Past the end: the last pixel again, not stored.
      for (int64_t m0 = 0, img0 = 0, r0 = 0, t0 = 0; m0 < M; m0 += kMB) {
        const int64_t mb = std::min<int64_t>(kMB, M - m0);
        for (int64_t m = 0, im = img0, r = r0, t = t0; m < kMB; ++m) {
          base[m] = im * tr.image_pad + r * tr.wpg + t;
          dst[m] = (n0 + im) * s.c * image + (cl.a + s.sh * r) * s.w + cl.b + s.sw * t;
          if (m + 1 >= mb) continue;
          if (++t == cl.cols && (t = 0, ++r == cl.rows)) r = 0, ++im;
        }
        for (int64_t cb = 0; cb < tr.ncb; ++cb) {
          const float* wk = cl.wt.data() + (g * tr.ncb + cb) * K * tr.obw;
          if (tr.vw < kVW)
            forward_tile<kVW / 2, 1>(pad, base, cl.off.data(), K, wk, tile);
          else if (tr.nv == 1)
            forward_tile<kVW, 1>(pad, base, cl.off.data(), K, wk, tile);
          else
            forward_tile<kVW, 2>(pad, base, cl.off.data(), K, wk, tile);
          const int64_t c0 = g * tr.cg + cb * tr.obw;
          const int64_t c_end = std::min<int64_t>(tr.obw, tr.cg - cb * tr.obw);
          for (int64_t c = 0; c < c_end; ++c) {
            float* gxc = gx + (c0 + c) * image;
            for (int64_t m = 0; m < mb; ++m) gxc[dst[m]] = tile[m * tr.obw + c];
          }
        }
        for (t0 += kMB; t0 >= cl.cols;) {  // the next tile's first pixel
          t0 -= cl.cols;
          if (++r0 == cl.rows) r0 = 0, ++img0;
        }
      }
    }
  });
}

}  // namespace tg::kernels::cpu
