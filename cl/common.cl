/* Activations and their exact derivatives. MUPC_ACT is fixed at build time
 * (-DMUPC_ACT=n, the order of mupc_act in mupc.h), so each network's
 * program carries one activation with no branch in the inner loops. */
#define ACT_LINEAR 0
#define ACT_RELU 1
#define ACT_TANH 2
#define ACT_HARD_TANH 3
#define ACT_LEAKY_RELU 4
#define ACT_GELU 5
#define ACT_SELU 6
#define ACT_SILU 7

#ifndef MUPC_ACT
#define MUPC_ACT ACT_RELU
#endif

#define SELU_ALPHA 1.6732632423543772f
#define SELU_SCALE 1.0507009873554805f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

inline float phi(float x) {
#if MUPC_ACT == ACT_LINEAR
  return x;
#elif MUPC_ACT == ACT_RELU
  return x > 0.0f ? x : 0.0f;
#elif MUPC_ACT == ACT_TANH
  return tanh(x);
#elif MUPC_ACT == ACT_HARD_TANH
  return clamp(x, -1.0f, 1.0f);
#elif MUPC_ACT == ACT_LEAKY_RELU
  return x > 0.0f ? x : 0.01f * x;
#elif MUPC_ACT == ACT_GELU
  return 0.5f * x * (1.0f + erf(x * INV_SQRT2));
#elif MUPC_ACT == ACT_SELU
  return x > 0.0f ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * (exp(x) - 1.0f);
#elif MUPC_ACT == ACT_SILU
  return x / (1.0f + exp(-x));
#else
#error "unknown MUPC_ACT"
#endif
}

/* Kinks take the derivative of the side that is flat or left: relu'(0) = 0,
 * leaky'(0) = 0.01, hard_tanh'(±1) = 0. */
inline float dphi(float x) {
#if MUPC_ACT == ACT_LINEAR
  return 1.0f;
#elif MUPC_ACT == ACT_RELU
  return x > 0.0f ? 1.0f : 0.0f;
#elif MUPC_ACT == ACT_TANH
  float t = tanh(x);
  return 1.0f - t * t;
#elif MUPC_ACT == ACT_HARD_TANH
  return (x > -1.0f && x < 1.0f) ? 1.0f : 0.0f;
#elif MUPC_ACT == ACT_LEAKY_RELU
  return x > 0.0f ? 1.0f : 0.01f;
#elif MUPC_ACT == ACT_GELU
  return 0.5f * (1.0f + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5f * x * x);
#elif MUPC_ACT == ACT_SELU
  return x > 0.0f ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(x);
#elif MUPC_ACT == ACT_SILU
  float s = 1.0f / (1.0f + exp(-x));
  return s * (1.0f + x * (1.0f - s));
#endif
}

/* φ(z + d) − φ(z), accurate when d is far below z's rounding: inference
 * moves activities by amounts a float cannot add to z, and the errors are
 * built from these differences. Piecewise-linear activations give the
 * difference exactly on their linear pieces; smooth ones use the midpoint
 * rule for small d (relative error about d²/24, below float epsilon for
 * |d| < 1e-3·(1 + |z|)) and the plain difference otherwise. */
inline float phi_delta(float z, float d) {
  const float zn = z + d;
#if MUPC_ACT == ACT_LINEAR
  return d;
#elif MUPC_ACT == ACT_RELU
  if (z > 0.0f && zn > 0.0f) return d;
  if (z <= 0.0f && zn <= 0.0f) return 0.0f;
  return phi(zn) - phi(z);
#elif MUPC_ACT == ACT_LEAKY_RELU
  if (z > 0.0f && zn > 0.0f) return d;
  if (z <= 0.0f && zn <= 0.0f) return 0.01f * d;
  return phi(zn) - phi(z);
#elif MUPC_ACT == ACT_HARD_TANH
  if (z > -1.0f && z < 1.0f && zn > -1.0f && zn < 1.0f) return d;
  if ((z >= 1.0f && zn >= 1.0f) || (z <= -1.0f && zn <= -1.0f)) return 0.0f;
  return phi(zn) - phi(z);
#else
  if (fabs(d) < 1e-3f * (1.0f + fabs(z))) return dphi(z + 0.5f * d) * d;
  return phi(zn) - phi(z);
#endif
}

/* The elementwise kernels' bodies are macros (pc.cl, optim.cl), so that the
 * host's copy of the step (src/hostinfer_kern.c) expands them inside its
 * own loops, where the compiler can vectorise them. There the loop bounds
 * are exact and the index is the loop's: the host defines ELEMENT_GUARD to
 * nothing and ELEMENT_ID as its loop variable before including this. */
#ifndef ELEMENT_GUARD
#define ELEMENT_GUARD(out_of_range) \
  if (out_of_range) return;
#define ELEMENT_ID get_global_id(0)
#endif

/* Denormal floats (|x| < 2^-126) as zero. On CPUs each arithmetic operation
 * on a denormal costs a microcode assist (about 100 cycles), and a deep
 * network's inference is full of them: the signal reaching a layer k below
 * the output is scaled by about (activity lr / B)^k, under 2^-126 within
 * 20 layers. The compiler option -cl-denorms-are-zero would do this, but
 * PoCL 3.1 drops it when it loads a kernel from its cache; flushing the
 * values the kernels read from GEMMs and write back holds on every driver.
 * What it drops is below 1.2e-38, invisible next to any activity (XLA
 * flushes denormals on CPUs too). Integer operations only: a float compare
 * could itself take the assist. */
inline float ftz(float x) { return (as_uint(x) & 0x7f800000u) ? x : 0.0f; }
