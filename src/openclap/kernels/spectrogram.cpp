// A mel spectrogram's frames, FFT, magnitude and filterbank in one pass on the CPU: for each of ``frames``
// frames t of a waveform, |rfft(wave[t * hop : t * hop + n_fft] * window)| (or its square) times the
// filterbank, samples past the waveform's end read as zeros (no padded copy of the waveform). The FFT runs
// in the waveform's precision (float32, or float64 where float32's rounding around loud bins would leak into
// weak ones), the filterbank product in float32; the result is float32 [B, mels, frames].
// A vector of frames at a time (16 in float32, 8 in float64), one per lane: the samples are gathered
// straight from the waveform (no framed copy is written), the FFT runs in registers and the core's L1
// cache, the filterbank's zeros are skipped, and each mel row's consecutive frames are one vector store.
// torch writes the windowed frames, the complex spectrum and the magnitudes between four kernels.
//
// Registered as torch operator openclap::frame_rfft_mel (for torch.export) and exported as the C function
// aoti_torch_cpu_frame_rfft_mel, which an AOTInductor package calls directly (as window_attention.cpp).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/csrc/inductor/aoti_torch/utils.h>
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#ifndef __AVX512F__
#error "openclap's native kernels need AVX-512 (-march=native on a CPU with avx512f)"
#endif

namespace {

constexpr int64_t MIN_FFT = 16, MAX_FFT = 4096;

// The FFT's lanes: one frame each.
template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  static constexpr int N = 16;
  using V = __m512;
  using F = __m512;  // N float32s: the filterbank product
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  static V gather(const int32_t* offsets, const float* base) {
    return _mm512_i32gather_ps(_mm512_loadu_si512(offsets), base, 4);
  }
  static F to_float(V v) { return v; }
  static F fzero() { return _mm512_setzero_ps(); }
  static F ffmadd(F a, float b, F c) { return _mm512_fmadd_ps(a, _mm512_set1_ps(b), c); }
  static void fstore(float* p, F v, int count) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1u), v);
  }
};
template <>
struct Lanes<double> {
  static constexpr int N = 8;
  using V = __m512d;
  using F = __m256;
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm512_fmsub_pd(a, b, c); }
  static V sqrt(V a) { return _mm512_sqrt_pd(a); }
  static V gather(const int32_t* offsets, const double* base) {
    return _mm512_i32gather_pd(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets)), base, 8);
  }
  static F to_float(V v) { return _mm512_cvtpd_ps(v); }
  static F fzero() { return _mm256_setzero_ps(); }
  static F ffmadd(F a, float b, F c) { return _mm256_fmadd_ps(a, _mm256_set1_ps(b), c); }
  static void fstore(float* p, F v, int count) {
    _mm256_mask_storeu_ps(p, static_cast<__mmask8>((1u << count) - 1u), v);
  }
};

template <typename T>
struct Plan {
  int64_t n, h;                     // FFT size and half of it (the complex FFT's size)
  std::vector<T> tw_re, tw_im;      // exp(-2 pi i k / h), k < h / 2
  std::vector<T> post_re, post_im;  // exp(-2 pi i k / n), k <= h
  std::vector<int32_t> rev;         // bit reversal of 0..h-1
  explicit Plan(int64_t n_fft) : n(n_fft), h(n_fft / 2) {
    int64_t bits = 0;
    while ((int64_t{1} << bits) < h) ++bits;
    for (int64_t k = 0; k < h / 2; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(h);
      tw_re.push_back(static_cast<T>(std::cos(a)));
      tw_im.push_back(static_cast<T>(std::sin(a)));
    }
    for (int64_t k = 0; k <= h; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n);
      post_re.push_back(static_cast<T>(std::cos(a)));
      post_im.push_back(static_cast<T>(std::sin(a)));
    }
    for (int64_t j = 0; j < h; ++j) {
      int64_t r = 0;
      for (int64_t b = 0; b < bits; ++b) r |= ((j >> b) & 1) << (bits - 1 - b);
      rev.push_back(static_cast<int32_t>(r));
    }
  }
};

// In-place radix-2 decimation-in-time FFT of size h on every lane (input in bit-reversed order).
template <typename T>
void fft(typename Lanes<T>::V* re, typename Lanes<T>::V* im, const Plan<T>& p) {
  using S = Lanes<T>;
  using V = typename S::V;
  const int64_t h = p.h;
  for (int64_t a = 0; a < h; a += 2) {  // first stage (length 2): twiddle 1
    const V br = re[a + 1], bi = im[a + 1];
    re[a + 1] = S::sub(re[a], br);
    im[a + 1] = S::sub(im[a], bi);
    re[a] = S::add(re[a], br);
    im[a] = S::add(im[a], bi);
  }
  for (int64_t len = 4; len <= h; len <<= 1) {
    const int64_t half = len / 2, step = h / len;
    for (int64_t j = 0; j < half; ++j) {
      const V wr = S::set1(p.tw_re[j * step]), wi = S::set1(p.tw_im[j * step]);
      for (int64_t a = j; a < h; a += len) {
        const int64_t b = a + half;
        const V tr = S::fmsub(wr, re[b], S::mul(wi, im[b]));
        const V ti = S::fmadd(wr, im[b], S::mul(wi, re[b]));
        re[b] = S::sub(re[a], tr);
        im[b] = S::sub(im[a], ti);
        re[a] = S::add(re[a], tr);
        im[a] = S::add(im[a], ti);
      }
    }
  }
}

struct Band {
  int64_t lo, hi;  // the filterbank column's nonzero rows: lo <= k < hi
};

struct Shape {
  int64_t samples, frames, hop, mels;
  int exponent;
};

// One group of up to N frames starting at frame t0 of one waveform; samples past its end read as zeros
// (``tail``: a thread's buffer of N - 1 hops + n_fft samples). ``out``: this waveform's [mels, frames].
template <typename T>
void group(const T* wave, int64_t t0, const Shape& s, const T* window, const float* fb, const std::vector<Band>& bands,
           const Plan<T>& p, typename Lanes<T>::V* re, typename Lanes<T>::V* im, typename Lanes<T>::F* spec, T* tail,
           float* out) {
  using S = Lanes<T>;
  using V = typename S::V;
  constexpr int N = S::N;
  const int64_t h = p.h;
  const int count = static_cast<int>(std::min<int64_t>(N, s.frames - t0));
  int32_t offsets[N];
  for (int f = 0; f < N; ++f) offsets[f] = static_cast<int32_t>(std::min(f, count - 1) * s.hop);
  const T* start = tail;
  const int64_t reach = (count - 1) * s.hop + p.n;  // samples this group reads from t0 * hop on
  if (t0 * s.hop + reach <= s.samples) {
    start = wave + t0 * s.hop;
  } else {  // the waveform ends before the group does: what is left of it, then zeros
    const int64_t left = std::clamp<int64_t>(s.samples - t0 * s.hop, 0, reach);
    std::copy(wave + t0 * s.hop, wave + t0 * s.hop + left, tail);
    std::fill(tail + left, tail + reach, T(0));
  }
  for (int64_t j = 0; j < h; ++j) {  // z[j] = x[2j] + i x[2j + 1], stored at its bit-reversed place
    const int64_t r = p.rev[j];
    const T w0 = window[2 * j], w1 = window[2 * j + 1];
    re[r] = w0 == T(0) ? S::zero() : S::mul(S::set1(w0), S::gather(offsets, start + 2 * j));
    im[r] = w1 == T(0) ? S::zero() : S::mul(S::set1(w1), S::gather(offsets, start + 2 * j + 1));
  }
  fft<T>(re, im, p);
  // the real FFT: X[k] = E[k] + exp(-2 pi i k / n) O[k], E and O the even and odd samples' spectra
  const V half = S::set1(T(0.5));
  for (int64_t k = 0; k <= h; ++k) {
    const int64_t k1 = k % h, k2 = (h - k) % h;
    const V ar = re[k1], ai = im[k1], br = re[k2], bi = im[k2];
    const V er = S::mul(half, S::add(ar, br)), ei = S::mul(half, S::sub(ai, bi));
    const V or_ = S::mul(half, S::add(ai, bi)), oi = S::mul(half, S::sub(br, ar));
    const V wr = S::set1(p.post_re[k]), wi = S::set1(p.post_im[k]);
    const V xr = S::add(er, S::fmsub(wr, or_, S::mul(wi, oi)));
    const V xi = S::add(ei, S::fmadd(wr, oi, S::mul(wi, or_)));
    const V power = S::fmadd(xr, xr, S::mul(xi, xi));
    spec[k] = S::to_float(s.exponent == 2 ? power : S::sqrt(power));
  }
  for (int64_t m = 0; m < s.mels; ++m) {
    typename S::F acc = S::fzero();
    for (int64_t k = bands[m].lo; k < bands[m].hi; ++k) acc = S::ffmadd(spec[k], fb[k * s.mels + m], acc);
    S::fstore(out + m * s.frames + t0, acc, count);
  }
}

template <typename T>
void spectrogram(const at::Tensor& x, const at::Tensor& w, const float* fb, const std::vector<Band>& bands,
                 const Shape& s, at::Tensor& out) {
  using S = Lanes<T>;
  constexpr int N = S::N;
  const Plan<T> plan(w.numel());
  const int64_t batch = x.size(0), groups = (s.frames + N - 1) / N;
  const T *xp = x.data_ptr<T>(), *wp = w.data_ptr<T>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, batch * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<typename S::V> buffer(2 * plan.h);
    std::vector<typename S::F> spec(plan.h + 1);
    std::vector<T> tail((N - 1) * s.hop + plan.n);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / groups, g = i % groups;
      group<T>(xp + b * s.samples, g * N, s, wp, fb, bands, plan, buffer.data(), buffer.data() + plan.h, spec.data(),
               tail.data(), op + b * s.mels * s.frames);
    }
  });
}

}  // namespace

at::Tensor frame_rfft_mel(const at::Tensor& wave, const at::Tensor& window, const at::Tensor& mel_fb, int64_t hop,
                          int64_t exponent, int64_t frames) {
  const bool f64 = wave.scalar_type() == at::kDouble;
  TORCH_CHECK(wave.dim() == 2 && (wave.scalar_type() == at::kFloat || f64) && wave.device().is_cpu(),
              "frame_rfft_mel: wave must be a float32 or float64 CPU tensor [B, N]");
  const int64_t n = window.numel();
  TORCH_CHECK(window.dim() == 1 && window.scalar_type() == wave.scalar_type() && n >= MIN_FFT && n <= MAX_FFT &&
                  (n & (n - 1)) == 0,
              "frame_rfft_mel: window must be [n_fft] in the wave's dtype, n_fft a power of two from ", MIN_FFT, " to ",
              MAX_FFT);
  TORCH_CHECK(mel_fb.dim() == 2 && mel_fb.scalar_type() == at::kFloat && mel_fb.size(0) == n / 2 + 1 && mel_fb.size(1) >= 1,
              "frame_rfft_mel: mel_fb must be float32 [n_fft / 2 + 1, mels]");
  TORCH_CHECK(hop >= 1 && 16 * hop + n < (int64_t{1} << 31), "frame_rfft_mel: hop must be 1 to 2^31 / 16, got ", hop);
  TORCH_CHECK(exponent == 1 || exponent == 2, "frame_rfft_mel: exponent 1 (magnitude) or 2 (power), got ", exponent);
  TORCH_CHECK(frames >= 1 && frames < (int64_t{1} << 31), "frame_rfft_mel: frames must be 1 to 2^31, got ", frames);
  const at::Tensor x = wave.contiguous(), w = window.contiguous(), fb = mel_fb.contiguous();
  const Shape s{x.size(1), frames, hop, fb.size(1), static_cast<int>(exponent)};
  at::Tensor out = at::empty({x.size(0), s.mels, frames}, x.options().dtype(at::kFloat));
  const float* fbp = fb.data_ptr<float>();
  std::vector<Band> bands(s.mels);
  for (int64_t m = 0; m < s.mels; ++m) {
    int64_t lo = n / 2 + 1, hi = 0;
    for (int64_t k = 0; k <= n / 2; ++k)
      if (fbp[k * s.mels + m] != 0.f) lo = std::min(lo, k), hi = k + 1;
    bands[m] = {std::min(lo, hi), hi};
  }
  if (f64) spectrogram<double>(x, w, fbp, bands, s, out);
  else spectrogram<float>(x, w, fbp, bands, s, out);
  return out;
}

TORCH_LIBRARY_FRAGMENT(openclap, m) {
  m.def("frame_rfft_mel(Tensor wave, Tensor window, Tensor mel_fb, int hop, int exponent, int frames) -> Tensor");
}

TORCH_LIBRARY_IMPL(openclap, CPU, m) { m.impl("frame_rfft_mel", &frame_rfft_mel); }

extern "C" AOTITorchError aoti_torch_cpu_frame_rfft_mel(AtenTensorHandle wave, AtenTensorHandle window,
                                                       AtenTensorHandle mel_fb, int64_t hop, int64_t exponent,
                                                       int64_t frames, AtenTensorHandle* ret0) {
  AOTI_TORCH_CONVERT_EXCEPTION_TO_ERROR_CODE({
    at::Tensor out = frame_rfft_mel(*torch::aot_inductor::tensor_handle_to_tensor_pointer(wave),
                                    *torch::aot_inductor::tensor_handle_to_tensor_pointer(window),
                                    *torch::aot_inductor::tensor_handle_to_tensor_pointer(mel_fb), hop, exponent,
                                    frames);
    *ret0 = torch::aot_inductor::new_tensor_handle(std::move(out));
  });
}
