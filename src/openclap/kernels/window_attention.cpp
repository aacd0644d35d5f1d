// Fused window attention for Swin / HTS-AT blocks on the CPU (float32 arithmetic; qkv and the output float32
// or bfloat16): for each (window, head) the scores
// q k^T * scale + relative-position bias (+ shift mask), their softmax and the product with the values, read
// from the qkv linear's output [B * nW, N, 3 * C] in place and written as the proj linear's input
// [B * nW, N, C]. One pass per window-head keeps its 64 x 64 scores in the core's cache, where torch runs
// a batched product, a softmax kernel and another product over the whole tensor.
//
// Registered as torch operator openclap::swin_window_attention (for torch.export) and exported as the C
// function aoti_torch_cpu_swin_window_attention, which an AOTInductor package calls directly (inductor's
// config.aot_inductor.custom_ops_to_c_shims), so the package runs without a proxy executor.
// Vectors are GCC vector types of 16 floats, built for AVX-512 only (-march=native on a CPU that has it):
// lowered to AVX2 they ran 9x slower than torch's ops, so openclap.kernels offers the op only with AVX-512.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/csrc/inductor/aoti_torch/utils.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>

#ifndef __AVX512F__
#error "openclap's native kernels need AVX-512 (-march=native on a CPU with avx512f)"
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));
constexpr int L = 16;
constexpr int NMAX = 64;
constexpr int DMAX = 32;

// every lane x (not v16{} + x, which the compiler must compute as an add: -0.0 + 0.0 is +0.0)
static inline v16 splat(float x) { return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

static inline v16 vexp(v16 x) {
  x = x < splat(-87.f) ? splat(-87.f) : x;
  x = x > splat(88.f) ? splat(88.f) : x;
  v16 fx = x * splat(1.44269504088896341f);
  i16 n = __builtin_convertvector(fx + ((fx >= splat(0.f)) ? splat(0.5f) : splat(-0.5f)), i16);
  v16 nf = __builtin_convertvector(n, v16);
  v16 r = x - nf * splat(0.693359375f);
  r = r - nf * splat(-2.12194440e-4f);
  v16 p = splat(1.9875691500E-4f);
  p = p * r + splat(1.3981999507E-3f);
  p = p * r + splat(8.3334519073E-3f);
  p = p * r + splat(4.1665795894E-2f);
  p = p * r + splat(1.6666665459E-1f);
  p = p * r + splat(5.0000001201E-1f);
  p = p * r * r + r + splat(1.f);
  i16 bits = (n + 127) << 23;
  return p * (v16)bits;
}

#ifdef __AVX512F__
#include <immintrin.h>
static inline float hmax(v16 v) { return _mm512_reduce_max_ps((__m512)v); }
static inline float hsum(v16 v) { return _mm512_reduce_add_ps((__m512)v); }
#else
static inline float hmax(v16 v) { float m = v[0]; for (int i = 1; i < L; ++i) m = v[i] > m ? v[i] : m; return m; }
static inline float hsum(v16 v) { float s = 0; for (int i = 0; i < L; ++i) s += v[i]; return s; }
#endif

static inline v16 loadu(const float* p) { v16 t; std::memcpy(&t, p, sizeof(t)); return t; }

// rows i0 .. i0 + 3 of the scores in acc: scaled, biased, masked, their softmax written to s
template <int NV>
static inline void softmax_rows(v16 (&acc)[4][NV], int i0, const float* brow, const float* mrow, float sc,
                                float (*s)[NMAX]) {
  constexpr int N = NV * L;
  v16 mx[4];
  for (int r = 0; r < 4; ++r) {
    mx[r] = splat(-INFINITY);
    for (int v = 0; v < NV; ++v) {
      v16 x = acc[r][v] * splat(sc) + loadu(brow + (i0 + r) * N + v * L);
      if (mrow) x += loadu(mrow + (i0 + r) * N + v * L);
      acc[r][v] = x;
      mx[r] = x > mx[r] ? x : mx[r];
    }
  }
  v16 sum[4];
  for (int r = 0; r < 4; ++r) {
    const v16 rowmax = splat(hmax(mx[r]));
    sum[r] = splat(0.f);
    for (int v = 0; v < NV; ++v) { acc[r][v] = vexp(acc[r][v] - rowmax); sum[r] += acc[r][v]; }
  }
  for (int r = 0; r < 4; ++r) {
    const v16 inv = splat(1.f / hsum(sum[r]));
    for (int v = 0; v < NV; ++v) *(v16*)&s[i0 + r][v * L] = acc[r][v] * inv;
  }
}

// scores of rows [0, N) into s: softmax(scale * q k^T + bias + mask)
template <int NV, typename T>
static void scores(const T* base, int64_t c3, int64_t d, const float* brow, const float* mrow, float sc,
                   const float (*kt)[NMAX], float (*s)[NMAX]) {
  constexpr int N = NV * L;
  for (int i0 = 0; i0 < N; i0 += 4) {
    v16 acc[4][NV];
    for (int r = 0; r < 4; ++r) for (int v = 0; v < NV; ++v) acc[r][v] = splat(0.f);
    const T* q0 = base + i0 * c3;
    for (int64_t e = 0; e < d; ++e) {
      v16 kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = *(const v16*)&kt[e][v * L];
      for (int r = 0; r < 4; ++r) {
        v16 qb = splat(static_cast<float>(q0[r * c3 + e]));
        for (int v = 0; v < NV; ++v) acc[r][v] += qb * kv[v];
      }
    }
    softmax_rows<NV>(acc, i0, brow, mrow, sc, s);
  }
}

// out rows [0, N) = p v
template <int NV, typename T>
static void values(const float (*s)[NMAX], const float (*vp)[DMAX], T* dst, int64_t c, int64_t d) {
  constexpr int N = NV * L;
  for (int i0 = 0; i0 < N; i0 += 8) {
    v16 o[8][2];
    for (int r = 0; r < 8; ++r) o[r][0] = o[r][1] = splat(0.f);
    for (int j = 0; j < N; ++j) {
      const v16 v0 = *(const v16*)&vp[j][0], v1 = *(const v16*)&vp[j][L];
      for (int r = 0; r < 8; ++r) {
        const v16 p = splat(s[i0 + r][j]);
        o[r][0] += p * v0;
        o[r][1] += p * v1;
      }
    }
    for (int r = 0; r < 8; ++r) {
      alignas(64) float tmp[DMAX];
      *(v16*)&tmp[0] = o[r][0];
      *(v16*)&tmp[L] = o[r][1];
      T* row = dst + (i0 + r) * c;
      for (int64_t e = 0; e < d; ++e) row[e] = static_cast<T>(tmp[e]);
    }
  }
}

// every (window, head) of qkv (float or bfloat16; the arithmetic is float32) into out, of qkv's type
template <typename T>
static void attention(const at::Tensor& q, const at::Tensor& b, const at::Tensor& m, int64_t heads, float sc,
                      at::Tensor& out) {
  const int64_t bw = q.size(0), n = q.size(1), c = q.size(2) / 3, d = c / heads;
  const int64_t nw = m.defined() ? m.size(0) : 1;
  const T* src = q.data_ptr<T>();
  const float* bp = b.data_ptr<float>();
  const float* mp = m.defined() ? m.data_ptr<float>() : nullptr;
  T* dst = out.data_ptr<T>();
  at::parallel_for(0, bw * heads, 1, [&](int64_t begin, int64_t end) {
    alignas(64) float kt[DMAX][NMAX];  // keys, transposed
    alignas(64) float vp[NMAX][DMAX];  // values, zero beyond the head width
    alignas(64) float s[NMAX][NMAX];   // probabilities
    std::memset(vp, 0, sizeof(vp));
    for (int64_t wh = begin; wh < end; ++wh) {
      const int64_t w = wh / heads, h = wh % heads;
      const T* base = src + w * n * 3 * c + h * d;
      for (int64_t j = 0; j < n; ++j) {
        const T* kr = base + j * 3 * c + c;
        const T* vr = kr + c;
        for (int64_t e = 0; e < d; ++e) {
          kt[e][j] = static_cast<float>(kr[e]);
          vp[j][e] = static_cast<float>(vr[e]);
        }
      }
      const float* brow = bp + h * n * n;
      const float* mrow = mp ? mp + (w % nw) * n * n : nullptr;
      T* o = dst + w * n * c + h * d;
      if (n == 64) { scores<4>(base, 3 * c, d, brow, mrow, sc, kt, s); values<4>(s, vp, o, c, d); }
      else if (n == 32) { scores<2>(base, 3 * c, d, brow, mrow, sc, kt, s); values<2>(s, vp, o, c, d); }
      else { scores<1>(base, 3 * c, d, brow, mrow, sc, kt, s); values<1>(s, vp, o, c, d); }
    }
  });
}

#ifdef __AVX512BF16__
// bfloat16 qkv with AVX512-BF16 dot products (pairs of bf16 multiplied exactly, summed in float32), the
// probabilities rounded to bf16 before the value product, as bf16 autocast's two batched products do
typedef uint32_t pair_t;  // two bf16, the lower element in the low half

template <int NV>
static void scores_bf16(const pair_t (*qp)[DMAX / 2], const pair_t (*kp)[NMAX], int64_t pairs, const float* brow,
                        const float* mrow, float sc, float (*s)[NMAX], uint16_t (*pb)[NMAX]) {
  constexpr int N = NV * L;
  for (int i0 = 0; i0 < N; i0 += 4) {
    v16 acc[4][NV];
    for (int r = 0; r < 4; ++r) for (int v = 0; v < NV; ++v) acc[r][v] = splat(0.f);
    for (int64_t e = 0; e < pairs; ++e) {
      __m512bh kv[NV];
      for (int v = 0; v < NV; ++v) kv[v] = (__m512bh)_mm512_load_si512((const void*)&kp[e][v * L]);
      for (int r = 0; r < 4; ++r) {
        const __m512bh qb = (__m512bh)_mm512_set1_epi32((int)qp[i0 + r][e]);
        for (int v = 0; v < NV; ++v) acc[r][v] = (v16)_mm512_dpbf16_ps((__m512)acc[r][v], qb, kv[v]);
      }
    }
    softmax_rows<NV>(acc, i0, brow, mrow, sc, s);
    for (int r = 0; r < 4; ++r)
      for (int v = 0; v < NV; v += 2) {  // 32 probabilities a store (16 with one vector a row)
        const __m512 lo = *(const __m512*)&s[i0 + r][v * L];
        const __m512 hi = v + 1 < NV ? *(const __m512*)&s[i0 + r][(v + 1) * L] : _mm512_setzero_ps();
        _mm512_storeu_si512((void*)&pb[i0 + r][v * L], (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      }
  }
}

template <int NV>
static void values_bf16(const uint16_t (*pb)[NMAX], const pair_t (*vp)[DMAX], c10::BFloat16* dst, int64_t c,
                        int64_t d) {
  constexpr int N = NV * L;
  for (int i0 = 0; i0 < N; i0 += 8) {
    __m512 o[8][2];
    for (int r = 0; r < 8; ++r) o[r][0] = o[r][1] = _mm512_setzero_ps();
    for (int j = 0; j < N / 2; ++j) {
      const __m512bh v0 = (__m512bh)_mm512_load_si512((const void*)&vp[j][0]);
      const __m512bh v1 = (__m512bh)_mm512_load_si512((const void*)&vp[j][L]);
      for (int r = 0; r < 8; ++r) {
        uint32_t w;
        std::memcpy(&w, &pb[i0 + r][2 * j], sizeof(w));
        const __m512bh p = (__m512bh)_mm512_set1_epi32((int)w);
        o[r][0] = _mm512_dpbf16_ps(o[r][0], p, v0);
        o[r][1] = _mm512_dpbf16_ps(o[r][1], p, v1);
      }
    }
    const __mmask32 width = static_cast<__mmask32>((uint64_t{1} << d) - 1);
    for (int r = 0; r < 8; ++r)  // rounded to nearest even, as c10::BFloat16(float)
      _mm512_mask_storeu_epi16(dst + (i0 + r) * c, width, (__m512i)_mm512_cvtne2ps_pbh(o[r][1], o[r][0]));
  }
}

static void attention_bf16(const at::Tensor& q, const at::Tensor& b, const at::Tensor& m, int64_t heads, float sc,
                           at::Tensor& out) {
  const int64_t bw = q.size(0), n = q.size(1), c = q.size(2) / 3, d = c / heads, pairs = (d + 1) / 2;
  const int64_t nw = m.defined() ? m.size(0) : 1;
  const c10::BFloat16* src = q.data_ptr<c10::BFloat16>();
  const float* bp = b.data_ptr<float>();
  const float* mp = m.defined() ? m.data_ptr<float>() : nullptr;
  c10::BFloat16* dst = out.data_ptr<c10::BFloat16>();
  at::parallel_for(0, bw * heads, 1, [&](int64_t begin, int64_t end) {
    alignas(64) pair_t qp[NMAX][DMAX / 2];  // queries, pairs along the head width
    alignas(64) pair_t kp[DMAX / 2][NMAX];  // keys, pairs along the head width, transposed
    alignas(64) pair_t vp[NMAX / 2][DMAX];  // values, pairs along the tokens, zero beyond the head width
    alignas(64) float s[NMAX][NMAX];        // probabilities
    alignas(64) uint16_t pb[NMAX][NMAX];    // and as bf16
    alignas(64) pair_t kt[NMAX][DMAX / 2];  // keys, pairs along the head width, before the transpose
    const __mmask32 width = static_cast<__mmask32>((uint64_t{1} << d) - 1);  // a row's d bf16
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(DMAX / 2));  // kt's rows, in pair_t
    // (row j's element i, row j + 1's element i) for i < 16 and for 16 <= i < 32
    alignas(64) uint16_t low[2 * L], high[2 * L];
    for (int i = 0; i < L; ++i) low[2 * i] = i, low[2 * i + 1] = 32 + i, high[2 * i] = L + i, high[2 * i + 1] = 48 + i;
    const __m512i low_pairs = _mm512_load_si512(low), high_pairs = _mm512_load_si512(high);
    for (int64_t wh = begin; wh < end; ++wh) {
      const int64_t w = wh / heads, h = wh % heads;
      const c10::BFloat16* base = src + w * n * 3 * c + h * d;
      // a row's d bf16 are its pairs as they lie in memory (zero past d): the queries as they are, the
      // keys through kt and then transposed by gathers, two value rows interleaved into pairs
      for (int64_t j = 0; j < n; ++j) {
        const c10::BFloat16* qr = base + j * 3 * c;
        _mm512_store_si512((void*)qp[j], _mm512_maskz_loadu_epi16(width, qr));
        _mm512_store_si512((void*)kt[j], _mm512_maskz_loadu_epi16(width, qr + c));
      }
      for (int64_t e = 0; e < pairs; ++e)
        for (int64_t j = 0; j < n; j += L)
          _mm512_store_si512((void*)&kp[e][j], _mm512_i32gather_epi32(rows, (const void*)&kt[j][e], 4));
      for (int64_t j = 0; j < n; j += 2) {
        const c10::BFloat16* v0 = base + j * 3 * c + 2 * c;
        const __m512i a = _mm512_maskz_loadu_epi16(width, v0), b = _mm512_maskz_loadu_epi16(width, v0 + 3 * c);
        _mm512_store_si512((void*)&vp[j / 2][0], _mm512_permutex2var_epi16(a, low_pairs, b));
        _mm512_store_si512((void*)&vp[j / 2][L], _mm512_permutex2var_epi16(a, high_pairs, b));
      }
      const float* brow = bp + h * n * n;
      const float* mrow = mp ? mp + (w % nw) * n * n : nullptr;
      c10::BFloat16* o = dst + w * n * c + h * d;
      if (n == 64) { scores_bf16<4>(qp, kp, pairs, brow, mrow, sc, s, pb); values_bf16<4>(pb, vp, o, c, d); }
      else if (n == 32) { scores_bf16<2>(qp, kp, pairs, brow, mrow, sc, s, pb); values_bf16<2>(pb, vp, o, c, d); }
      else { scores_bf16<1>(qp, kp, pairs, brow, mrow, sc, s, pb); values_bf16<1>(pb, vp, o, c, d); }
    }
  });
}
#endif

at::Tensor swin_window_attention(const at::Tensor& qkv, const at::Tensor& bias, const std::optional<at::Tensor>& mask,
                                 int64_t heads, double scale) {
  TORCH_CHECK(qkv.dim() == 3 && (qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16) &&
                  qkv.device().is_cpu(),
              "swin_window_attention: qkv must be a float32 or bfloat16 CPU tensor [B * nW, N, 3 * C]");
  const int64_t bw = qkv.size(0), n = qkv.size(1), c = qkv.size(2) / 3, d = heads > 0 ? c / heads : 0;
  TORCH_CHECK(heads > 0 && qkv.size(2) == 3 * c && c == heads * d && d >= 1 && d <= DMAX,
              "swin_window_attention: qkv's last size must be 3 x heads x a head width of 1 to ", DMAX);
  TORCH_CHECK(n == 16 || n == 32 || n == 64, "swin_window_attention: a window of 16, 32 or 64 tokens, got ", n);
  TORCH_CHECK(bias.scalar_type() == at::kFloat && bias.sizes() == at::IntArrayRef({heads, n, n}),
              "swin_window_attention: bias must be float32 [heads, N, N]");
  const at::Tensor q = qkv.contiguous(), b = bias.contiguous();
  at::Tensor m;
  if (mask.has_value() && mask->defined()) {
    m = mask->contiguous();
    TORCH_CHECK(m.scalar_type() == at::kFloat && m.dim() == 3 && m.size(1) == n && m.size(2) == n && m.size(0) > 0 &&
                    bw % m.size(0) == 0,
                "swin_window_attention: mask must be float32 [nW, N, N] with nW dividing the windows");
  }
  at::Tensor out = at::empty({bw, n, c}, qkv.options());
  if (q.scalar_type() == at::kFloat) attention<float>(q, b, m, heads, static_cast<float>(scale), out);
#ifdef __AVX512BF16__
  else attention_bf16(q, b, m, heads, static_cast<float>(scale), out);
#else
  else attention<c10::BFloat16>(q, b, m, heads, static_cast<float>(scale), out);
#endif
  return out;
}

TORCH_LIBRARY(openclap, m) {
  m.def("swin_window_attention(Tensor qkv, Tensor bias, Tensor? mask, int heads, float scale) -> Tensor");
}

TORCH_LIBRARY_IMPL(openclap, CPU, m) { m.impl("swin_window_attention", &swin_window_attention); }

extern "C" AOTITorchError aoti_torch_cpu_swin_window_attention(AtenTensorHandle qkv, AtenTensorHandle bias,
                                                              AtenTensorHandle* mask, int64_t heads, double scale,
                                                              AtenTensorHandle* ret0) {
  AOTI_TORCH_CONVERT_EXCEPTION_TO_ERROR_CODE({
    std::optional<at::Tensor> m;
    if (mask != nullptr && *mask != nullptr) m = *torch::aot_inductor::tensor_handle_to_tensor_pointer(*mask);
    at::Tensor out = swin_window_attention(*torch::aot_inductor::tensor_handle_to_tensor_pointer(qkv),
                                           *torch::aot_inductor::tensor_handle_to_tensor_pointer(bias), m, heads, scale);
    *ret0 = torch::aot_inductor::new_tensor_handle(std::move(out));
  });
}
