// A mel spectrogram's frames, FFT, magnitude and filterbank in one pass on the CPU (float32): for each of
// ``frames`` frames t of a waveform, |rfft(wave[t * hop : t * hop + n_fft] * window)| (or its square) times
// the filterbank, samples past the waveform's end read as zeros (no padded copy of the waveform).
// Sixteen frames at a time, one per vector lane: the samples are gathered straight from the waveform (no
// framed copy is written), the FFT runs in registers and the core's L1 cache, the filterbank's zeros are
// skipped, and only [frames, mels] is written. torch writes the windowed frames, the complex spectrum
// and the magnitudes between four kernels.
//
// Registered as torch operator openclap::frame_rfft_mel (for torch.export) and exported as the C function
// aoti_torch_cpu_frame_rfft_mel, which an AOTInductor package calls directly (as window_attention.cpp).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/csrc/inductor/aoti_torch/utils.h>
#include <immintrin.h>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <vector>

#ifndef __AVX512F__
#error "openclap's native kernels need AVX-512 (-march=native on a CPU with avx512f)"
#endif

namespace {

constexpr int L = 16;  // frames per group, one per lane
constexpr int64_t MIN_FFT = 16, MAX_FFT = 4096;

struct Plan {
  int64_t n, h, bits;                       // FFT size, half of it (the complex FFT's size), log2(h)
  std::vector<float> tw_re, tw_im;          // exp(-2 pi i k / h), k < h / 2
  std::vector<float> post_re, post_im;      // exp(-2 pi i k / n), k <= h
  std::vector<int32_t> rev;                 // bit reversal of 0..h-1
  Plan(int64_t n_fft) : n(n_fft), h(n_fft / 2), bits(0) {
    while ((int64_t{1} << bits) < h) ++bits;
    for (int64_t k = 0; k < h / 2; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(h);
      tw_re.push_back(static_cast<float>(std::cos(a)));
      tw_im.push_back(static_cast<float>(std::sin(a)));
    }
    for (int64_t k = 0; k <= h; ++k) {
      const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n);
      post_re.push_back(static_cast<float>(std::cos(a)));
      post_im.push_back(static_cast<float>(std::sin(a)));
    }
    for (int64_t j = 0; j < h; ++j) {
      int64_t r = 0;
      for (int64_t b = 0; b < bits; ++b) r |= ((j >> b) & 1) << (bits - 1 - b);
      rev.push_back(static_cast<int32_t>(r));
    }
  }
};

// In-place radix-2 decimation-in-time FFT of size h on sixteen lanes (input in bit-reversed order).
void fft(__m512* re, __m512* im, const Plan& p) {
  const int64_t h = p.h;
  // first stage (length 2): twiddle 1
  for (int64_t a = 0; a < h; a += 2) {
    const __m512 br = re[a + 1], bi = im[a + 1];
    re[a + 1] = _mm512_sub_ps(re[a], br);
    im[a + 1] = _mm512_sub_ps(im[a], bi);
    re[a] = _mm512_add_ps(re[a], br);
    im[a] = _mm512_add_ps(im[a], bi);
  }
  for (int64_t len = 4; len <= h; len <<= 1) {
    const int64_t half = len / 2, step = h / len;
    for (int64_t j = 0; j < half; ++j) {
      const __m512 wr = _mm512_set1_ps(p.tw_re[j * step]), wi = _mm512_set1_ps(p.tw_im[j * step]);
      for (int64_t a = j; a < h; a += len) {
        const int64_t b = a + half;
        const __m512 tr = _mm512_fmsub_ps(wr, re[b], _mm512_mul_ps(wi, im[b]));
        const __m512 ti = _mm512_fmadd_ps(wr, im[b], _mm512_mul_ps(wi, re[b]));
        re[b] = _mm512_sub_ps(re[a], tr);
        im[b] = _mm512_sub_ps(im[a], ti);
        re[a] = _mm512_add_ps(re[a], tr);
        im[a] = _mm512_add_ps(im[a], ti);
      }
    }
  }
}

struct Band {
  int64_t lo, hi;  // the filterbank column's nonzero rows: lo <= k < hi
};

// One group of up to sixteen frames starting at frame t0 of one waveform.
// Samples past the waveform's end read as zeros (``tail``: a thread's buffer of 15 hops + n_fft floats).
void group(const float* wave, int64_t samples, int64_t t0, int64_t frames, int64_t hop, const float* window,
           const float* fb, const std::vector<Band>& bands, int64_t mels, int exponent, const Plan& p, __m512* re,
           __m512* im, __m512* spec, float* tail, float* out) {
  const int64_t h = p.h, count = std::min<int64_t>(L, frames - t0);
  int32_t offsets[L];
  for (int f = 0; f < L; ++f) offsets[f] = static_cast<int32_t>(std::min<int64_t>(f, count - 1) * hop);
  const __m512i index = _mm512_loadu_si512(offsets);
  const float* start = tail;
  const int64_t reach = (count - 1) * hop + p.n;  // samples this group reads from t0 * hop on
  if (t0 * hop + reach <= samples) {
    start = wave + t0 * hop;
  } else {  // the waveform ends before the group does: what is left of it, then zeros
    const int64_t left = std::clamp<int64_t>(samples - t0 * hop, 0, reach);
    std::copy(wave + t0 * hop, wave + t0 * hop + left, tail);
    std::fill(tail + left, tail + reach, 0.f);
    start = tail;
  }
  for (int64_t j = 0; j < h; ++j) {  // z[j] = x[2j] + i x[2j + 1], stored at its bit-reversed place
    const int64_t r = p.rev[j];
    const float w0 = window[2 * j], w1 = window[2 * j + 1];
    re[r] = w0 == 0.f ? _mm512_setzero_ps()
                      : _mm512_mul_ps(_mm512_set1_ps(w0), _mm512_i32gather_ps(index, start + 2 * j, 4));
    im[r] = w1 == 0.f ? _mm512_setzero_ps()
                      : _mm512_mul_ps(_mm512_set1_ps(w1), _mm512_i32gather_ps(index, start + 2 * j + 1, 4));
  }
  fft(re, im, p);
  // the real FFT: X[k] = E[k] + exp(-2 pi i k / n) O[k], E and O the even and odd samples' spectra
  const __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t k = 0; k <= h; ++k) {
    const int64_t k1 = k % h, k2 = (h - k) % h;
    const __m512 ar = re[k1], ai = im[k1], br = re[k2], bi = im[k2];
    const __m512 er = _mm512_mul_ps(half, _mm512_add_ps(ar, br)), ei = _mm512_mul_ps(half, _mm512_sub_ps(ai, bi));
    const __m512 or_ = _mm512_mul_ps(half, _mm512_add_ps(ai, bi)), oi = _mm512_mul_ps(half, _mm512_sub_ps(br, ar));
    const __m512 wr = _mm512_set1_ps(p.post_re[k]), wi = _mm512_set1_ps(p.post_im[k]);
    const __m512 xr = _mm512_add_ps(er, _mm512_fmsub_ps(wr, or_, _mm512_mul_ps(wi, oi)));
    const __m512 xi = _mm512_add_ps(ei, _mm512_fmadd_ps(wr, oi, _mm512_mul_ps(wi, or_)));
    const __m512 power = _mm512_fmadd_ps(xr, xr, _mm512_mul_ps(xi, xi));
    spec[k] = exponent == 2 ? power : _mm512_sqrt_ps(power);
  }
  const __m512i scatter = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int32_t>(mels)));
  const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1u);
  float* dst = out + t0 * mels;
  for (int64_t m = 0; m < mels; ++m) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = bands[m].lo; k < bands[m].hi; ++k) acc = _mm512_fmadd_ps(spec[k], _mm512_set1_ps(fb[k * mels + m]), acc);
    _mm512_mask_i32scatter_ps(dst + m, valid, scatter, acc, 4);
  }
}

}  // namespace

at::Tensor frame_rfft_mel(const at::Tensor& wave, const at::Tensor& window, const at::Tensor& mel_fb, int64_t hop,
                          int64_t exponent, int64_t frames) {
  TORCH_CHECK(wave.dim() == 2 && wave.scalar_type() == at::kFloat && wave.device().is_cpu(),
              "frame_rfft_mel: wave must be a float32 CPU tensor [B, N]");
  const int64_t n = window.numel();
  TORCH_CHECK(window.dim() == 1 && window.scalar_type() == at::kFloat && n >= MIN_FFT && n <= MAX_FFT && (n & (n - 1)) == 0,
              "frame_rfft_mel: window must be float32 [n_fft], n_fft a power of two from ", MIN_FFT, " to ", MAX_FFT);
  TORCH_CHECK(mel_fb.dim() == 2 && mel_fb.scalar_type() == at::kFloat && mel_fb.size(0) == n / 2 + 1 && mel_fb.size(1) >= 1,
              "frame_rfft_mel: mel_fb must be float32 [n_fft / 2 + 1, mels]");
  TORCH_CHECK(hop >= 1 && 16 * hop + n < (int64_t{1} << 31), "frame_rfft_mel: hop must be 1 to 2^31 / 16, got ", hop);
  TORCH_CHECK(frames >= 1 && frames < (int64_t{1} << 31), "frame_rfft_mel: frames must be 1 to 2^31, got ", frames);
  TORCH_CHECK(exponent == 1 || exponent == 2, "frame_rfft_mel: exponent 1 (magnitude) or 2 (power), got ", exponent);
  const at::Tensor x = wave.contiguous(), w = window.contiguous(), fb = mel_fb.contiguous();
  const int64_t batch = x.size(0), samples = x.size(1), mels = fb.size(1);
  at::Tensor out = at::empty({batch, frames, mels}, x.options());
  const float* fbp = fb.data_ptr<float>();
  std::vector<Band> bands(mels);
  for (int64_t m = 0; m < mels; ++m) {
    int64_t lo = n / 2 + 1, hi = 0;
    for (int64_t k = 0; k <= n / 2; ++k)
      if (fbp[k * mels + m] != 0.f) lo = std::min(lo, k), hi = k + 1;
    bands[m] = {std::min(lo, hi), hi};
  }
  const Plan plan(n);
  const int64_t groups = (frames + L - 1) / L;
  const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, batch * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<__m512> buffer(2 * plan.h + plan.h + 1);
    std::vector<float> tail((L - 1) * hop + n);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / groups, g = i % groups;
      group(xp + b * samples, samples, g * L, frames, hop, wp, fbp, bands, mels, static_cast<int>(exponent), plan,
            buffer.data(), buffer.data() + plan.h, buffer.data() + 2 * plan.h, tail.data(), op + b * frames * mels);
    }
  });
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
