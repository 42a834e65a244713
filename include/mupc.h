/* mupc — μPC predictive-coding training on any OpenCL device.
 *
 * The error rule, written once: every function that can fail returns an int
 * status, 0 (MUPC_OK) on success and a negative code otherwise. Codes in
 * -1…-999 are OpenCL's own values, -1000…-2999 are CLBlast's, and -3000…
 * are mupc's. mupc_strerror() names any of them; mupc_errmsg() gives the
 * detail of the last failure on the calling thread (which file, which flag,
 * which device). Outputs are written only on success. The library never
 * prints and never calls exit() or abort(). */
#ifndef MUPC_H
#define MUPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every public function carries MUPC_API; the library is built with hidden
 * visibility (meson: gnu_symbol_visibility), so only these are exported and
 * the mupc__ internals never are. A static build defines MUPC_STATIC. */
#if defined(_WIN32) && !defined(MUPC_STATIC)
#ifdef MUPC_BUILDING
#define MUPC_API __declspec(dllexport)
#else
#define MUPC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define MUPC_API __attribute__((visibility("default")))
#else
#define MUPC_API
#endif

#define MUPC_VERSION "0.3.0"

/* Contents, lowest layer first: each section uses only the types of the
 * sections above it, and the files behind a section call only those of the
 * sections above it (DESIGN §6; tests/test_layers.sh checks the calls), but
 * for two places where the types decide: the context (devices) calls down
 * into its GEMM provider and tuned-parameter cache, and the trainer calls
 * the checkpoint code, whose functions take a trainer.
 *   status codes            the codes, mupc_strerror, mupc_errmsg
 *   numbers and names as text  strict parsers, shortest number text, closest name
 *   network parameters      the choices (activation, loss, ...), their names,
 *                           mupc_net_params, its defaults and check
 *   seeded random numbers   Philox4x32-10: initial weights, scalings, shuffles
 *   devices                 devices, SPEC matching, the context
 *   GEMM providers          CLBlast or the host BLAS, per context
 *   networks                a net's lifetime, the step and its parts,
 *                           prediction, tensors, counters and GEMM rates
 *   GEMM tuning             CLBlast's direct-GEMM search, the per-device cache
 *   safetensors             the file format, read and written atomically
 *   data                    data-set formats, loading, one-hot batches
 *   parameters by name      the one table of every parameter, get, set, JSON
 *   training                options, the trainer, evaluation, data parallelism
 *   checkpoints             nets and trainers saved and loaded, resume checks
 *   benchmark               mupc_bench: timed steps in their parts
 *   runs compared           mupc compare's records and their differences */

/* ---- status codes ------------------------------------------------------ */

#define MUPC_STATUS_MAP(X)                                                     \
  X(OK, 0, "success")                                                          \
  X(EINVAL, -3001, "invalid argument")                                         \
  X(ENOMEM, -3002, "out of host memory")                                       \
  X(ENOPLATFORM, -3003, "no OpenCL platform found")                            \
  X(ENODEVICE, -3004, "no OpenCL device matches")                              \
  X(EBUILD, -3005, "OpenCL program build failed")                              \
  X(EIO, -3006, "input/output error")                                          \
  X(EFORMAT, -3007, "malformed file")                                          \
  X(ESHAPE, -3008, "shape does not match the configuration")                   \
  X(EDEVMEM, -3009, "device memory exhausted")                                 \
  X(EGEMM, -3010, "GEMM failed (CLBlast or the host BLAS)")                    \
  X(ENONFINITE, -3011, "non-finite value (NaN or inf)")                        \
  X(ENOSPC, -3012, "no space left on device")                                  \
  X(EINTR, -3013, "interrupted")

typedef enum {
#define MUPC__ENUM(name, value, text) MUPC_##name = (value),
  MUPC_STATUS_MAP(MUPC__ENUM)
#undef MUPC__ENUM
} mupc_status;

/* Name of any status: mupc's, OpenCL's ("CL_OUT_OF_RESOURCES") or
 * CLBlast's. Never NULL. */
MUPC_API const char *mupc_strerror(int status);
/* Detail of the last failure on this thread ("" if none). */
MUPC_API const char *mupc_errmsg(void);

/* ---- numbers and names as text --------------------------------------------
 * What the parameter table, the CLI's flags and the Python package parse,
 * write and suggest with, so that every front end takes and refuses the
 * same text with the same words. */

/* Strict numbers: the whole text is one number in range, with no blanks,
 * no trailing characters and no wrap-around ("-1" is no u64). Otherwise
 * MUPC_EINVAL, and mupc_errmsg() says only what was expected and what came
 * ("expected an integer >= 1, got '0'", "expected an integer in [1, 10],
 * got '11'", "expected a number > 0, got '0'"), for the caller to name the
 * value as its user knows it (--width, width=). *out is written only on
 * success. mupc_parse_int narrows lo and hi to int's range. */
MUPC_API int mupc_parse_int(const char *text, long long lo, long long hi, int *out);
MUPC_API int mupc_parse_u64(const char *text, uint64_t *out);
/* A float in [lo, hi]; an open end excludes its value (a rate > 0: lo 0,
 * lo_open 1), an infinite end is no bound. The range applies to the float
 * the text becomes: "1e-50" is 0 and not > 0, "1e39" overflows and is
 * refused, as are "nan" and "inf". */
MUPC_API int mupc_parse_float(const char *text, double lo, double hi, int lo_open, int hi_open,
                              float *out);
/* The shortest decimal text that reads back to v (as_float 0) or to the
 * float (float)v (as_float 1), "0.5355", not "0.53549999999999998", with
 * ".0" after what looks like an integer so that JSON readers keep it a
 * number with a fraction; "null" (JSON's) when it is not finite. n >= 32;
 * MUPC_EINVAL for a smaller buffer. */
MUPC_API int mupc_format_number(double v, int as_float, char *dst, size_t n);
/* The index of the name among names[0 … count-1] (NULL entries are
 * skipped) closest to `name`, comparing in any case with '_' read as '-'
 * and counting a swap of neighbouring letters as one edit ("stpes" is one
 * from "steps"); -1 when none is within about one edit in three letters
 * (at least one), so that another word is not mistaken for a slip. The
 * first of equally close names wins. */
MUPC_API int mupc_closest_name(const char *name, const char *const *names, size_t count);

/* ---- network parameters ------------------------------------------------ */

typedef enum {
  MUPC_ACT_LINEAR,
  MUPC_ACT_RELU,
  MUPC_ACT_TANH,
  MUPC_ACT_HARD_TANH,
  MUPC_ACT_LEAKY_RELU,
  MUPC_ACT_GELU,
  MUPC_ACT_SELU,
  MUPC_ACT_SILU,
  MUPC_ACT_COUNT
} mupc_act;

typedef enum { MUPC_PARAM_MUPC, MUPC_PARAM_NTP, MUPC_PARAM_SP, MUPC_PARAM_COUNT } mupc_param;
typedef enum { MUPC_LOSS_MSE, MUPC_LOSS_CE, MUPC_LOSS_COUNT } mupc_loss;
typedef enum { MUPC_OPTIM_ADAM, MUPC_OPTIM_SGD, MUPC_OPTIM_COUNT } mupc_optim;
typedef enum { MUPC_AOPTIM_GD, MUPC_AOPTIM_ADAM, MUPC_AOPTIM_COUNT } mupc_aoptim;
typedef enum { MUPC_ALGO_PC, MUPC_ALGO_BP, MUPC_ALGO_COUNT } mupc_algo;
/* The generator behind a seed (see "seeded random numbers" below). PHILOX
 * is the one to use; SPLITMIX is mupc 0.1's, whose hidden weight matrices
 * repeat two layers down: it is kept only so a checkpoint written by 0.1
 * (metadata without "rng") resumes with the batch order it started with. */
typedef enum { MUPC_RNG_PHILOX, MUPC_RNG_SPLITMIX, MUPC_RNG_COUNT } mupc_rng;

/* Names as the CLI spells them ("relu", "mupc", "ce", ...), and back.
 * *_from_name ignores case ("ReLU" is relu) and returns -1 for an unknown
 * name. */
MUPC_API const char *mupc_act_name(mupc_act a);
MUPC_API const char *mupc_param_name(mupc_param p);
MUPC_API const char *mupc_loss_name(mupc_loss l);
MUPC_API const char *mupc_optim_name(mupc_optim o);
MUPC_API const char *mupc_aoptim_name(mupc_aoptim o);
MUPC_API const char *mupc_algo_name(mupc_algo a);
MUPC_API const char *mupc_rng_name(mupc_rng r); /* "philox4x32-10", "splitmix64" */
MUPC_API int mupc_act_from_name(const char *s);
MUPC_API int mupc_param_from_name(const char *s);
MUPC_API int mupc_loss_from_name(const char *s);
MUPC_API int mupc_optim_from_name(const char *s);
MUPC_API int mupc_aoptim_from_name(const char *s);
MUPC_API int mupc_algo_from_name(const char *s);
MUPC_API int mupc_rng_from_name(const char *s);

typedef struct mupc_net_params {
  int input_dim;  /* D */
  int width;      /* N */
  int output_dim; /* C */
  int depth;      /* L, number of weight matrices, >= 2 */
  int batch;      /* B */
  mupc_act act;
  mupc_param param;
  int skips; /* 1: s_l = 1 on hidden layers */
  mupc_loss loss;
  mupc_algo algo;
  int infer_steps; /* T */
  float activity_lr;
  mupc_aoptim activity_optim;
  float lr;
  mupc_optim optim;
  float weight_decay;
  float adam_beta1, adam_beta2, adam_eps;
  uint64_t seed;
  mupc_rng rng; /* the generator the seed drives: MUPC_RNG_PHILOX (0) */
  int wavefront; /* 1: compute only the band of layers that can change */
  /* The B of DESIGN §2's 1/B in the activity and weight gradients; 0 means
   * `batch`. Data-parallel training gives each shard's net the global batch
   * here, so its gradients are its exact share of the global ones (the
   * reported energies and losses stay means over this net's own batch). */
  int norm_batch;
} mupc_net_params;

/* D=784, N=128, C=10, L=30, B=64, relu, mupc, skips, mse, pc, T=30,
 * activity lr 0.5 (gd), Adam lr 0.1, no weight decay, seed 0 (Philox), wavefront,
 * gradients normalised by B. */
MUPC_API mupc_net_params mupc_net_default_params(void);
/* MUPC_OK or MUPC_EINVAL with mupc_errmsg() naming the bad field. */
MUPC_API int mupc_net_params_check(const mupc_net_params *p);

/* ---- seeded random numbers ----------------------------------------------
 * Weights are drawn on the host, so a seed gives bit-identical weights on
 * every device, and every draw is a pure function of its coordinates, so
 * streams cannot overlap (between layers, epochs, seeds or uses). The exact
 * mapping, for reproducing it in another language:
 *
 * Block generator: Philox4x32-10 (Salmon et al., SC'11; Random123's
 *   philox4x32 with 10 rounds): 4 counter words c0…c3 and 2 key words k0, k1
 *   give 4 output words x0…x3 (mupc_philox4x32_10).
 * Key: k0 = seed mod 2^32, k1 = seed >> 32.
 * Counter of block j in stream s of domain d:
 *   c0 = j mod 2^32, c1 = s mod 2^32, c2 = s >> 32, c3 = d + 256·(j >> 32).
 *   d = 0 (MUPC_RNG_DOMAIN_WEIGHTS): s = layer, 0-based; element i of the
 *     row-major [out, in] matrix uses word i mod 4 of block i / 4.
 *   d = 1 (MUPC_RNG_DOMAIN_SHUFFLE): s = epoch, 0-based.
 * Uniform from a word x: u = (⌊x / 2^8⌋ + 0.5) · 2^-24, in (0, 1), 24 bits
 *   (mupc_rng_uniform).
 * Normal weights (mupc, ntp): elements 4j, 4j+1 take (u(x0), u(x1)) of block
 *   j and elements 4j+2, 4j+3 take (u(x2), u(x3)); Box–Muller in double,
 *   r = sqrt(-2 ln u_a), t = 2π u_b, w = (float)(r cos t) and
 *   (float)(r sin t). A last odd element takes only the cosine. (libm's log,
 *   cos and sin are within an ulp of exact in double; rounding to float
 *   hides that but for about one value in 2^29.)
 * Uniform weights (sp): element i is (float)((2u − 1) / sqrt(fan_in)), u
 *   from its word, in double.
 * Shuffle of n items for (seed, epoch): 64-bit draws, draw k being
 *   x_{2(k mod 2)} + 2^32 · x_{2(k mod 2)+1} of block ⌊k/2⌋; Fisher–Yates
 *   from i = n−1 down to 1, swapping perm[i] with perm[b(i+1)], where b(m)
 *   takes draws until one is ≥ (2^64 − m) mod m and returns it mod m.
 * With p->rng == MUPC_RNG_SPLITMIX both follow mupc 0.1.0 instead (rng.c). */
#define MUPC_RNG_DOMAIN_WEIGHTS 0u
#define MUPC_RNG_DOMAIN_SHUFFLE 1u
MUPC_API void mupc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
MUPC_API double mupc_rng_uniform(uint32_t word);
/* Writes the initial weights of `layer` (0-based): out_dim·in_dim floats. */
MUPC_API void mupc_init_weights(const mupc_net_params *p, int layer, float *w);
/* Per-layer scale a_l (layer 0-based) and skip s_l as in DESIGN §1. */
MUPC_API float mupc_layer_scale(const mupc_net_params *p, int layer);
MUPC_API float mupc_layer_skip(const mupc_net_params *p, int layer);

/* A permutation of 0 … n-1 for one epoch, from (seed, epoch), by Philox; the
 * _rng form takes the generator (a run's p->rng). */
MUPC_API void mupc_shuffle(uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch);
MUPC_API void mupc_shuffle_rng(mupc_rng rng, uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch);

/* ---- devices ----------------------------------------------------------- */

typedef struct mupc_device_info {
  int platform_index; /* as clinfo -l numbers them */
  int device_index;
  char platform[128];
  char name[128];
  char vendor[128];
  char type[8]; /* "cpu", "gpu", "accel", "other" */
  unsigned compute_units;
  uint64_t global_mem_bytes;
  uint64_t max_alloc_bytes;
  size_t max_work_group_size;
  char opencl_c_version[64];
  char driver_version[64];
  int is_default; /* the device chosen when no SPEC is given */
} mupc_device_info;

/* Every device of every platform. *out is malloc'd; free() it. A machine
 * with no platform returns MUPC_ENOPLATFORM. */
MUPC_API int mupc_device_list(mupc_device_info **out, size_t *count);

/* The device a SPEC selects: "P:D", "cpu", "gpu", or a case-insensitive
 * substring of the platform name, platform vendor or device name (PoCL's
 * "pocl" appears only in its vendor). NULL or "" falls back to the
 * MUPC_DEVICE environment variable, then to the first GPU, the first CPU,
 * the first device. No match returns MUPC_ENODEVICE with a message that
 * names the SPEC and lists what exists. */
MUPC_API int mupc_device_select(const char *spec, mupc_device_info *out);
/* Device number `index` (modulo their count) among every device spec
 * matches, with mupc_device_select's matching (NULL or "": MUPC_DEVICE, else
 * every GPU, else every device): under mpirun each rank of a machine takes
 * its own. */
MUPC_API int mupc_device_select_nth(const char *spec, int index, mupc_device_info *out);

/* A context, in-order queue and program cache on one device. */
typedef struct mupc_ctx mupc_ctx;

MUPC_API int mupc_ctx_init(mupc_ctx **ctx, const char *spec);
/* A context on mupc_device_select_nth(spec, index)'s device: under mpirun,
 * each rank of a machine on its own. */
MUPC_API int mupc_ctx_init_nth(mupc_ctx **ctx, const char *spec, int index);
MUPC_API void mupc_ctx_free(mupc_ctx *ctx);
MUPC_API const mupc_device_info *mupc_ctx_device(const mupc_ctx *ctx);
/* Build log of the last failed program build in this context ("" if none). */
MUPC_API const char *mupc_ctx_build_log(const mupc_ctx *ctx);
/* Device memory this context holds in buffers, in bytes. */
MUPC_API uint64_t mupc_ctx_device_bytes(const mupc_ctx *ctx);
/* Waits for everything enqueued on the context's queue (timing only). */
MUPC_API int mupc_ctx_finish(mupc_ctx *ctx);

/* ---- GEMM providers ------------------------------------------------------
 * Every GEMM of a context's networks runs through one provider:
 *   CLBLAST  CLBlast's kernels on the device (any device);
 *   KERNELS  the library's own GEMM kernel (cl/gemm.cl) on the device (any
 *            device): one kernel object per distinct product, its arguments
 *            set once, so a repeated product costs one enqueue and no other
 *            OpenCL call (CLBlast creates and queries a kernel per call);
 *   HOST     the host's CBLAS (OpenBLAS) on the buffers' own memory: only for
 *            CPU devices whose memory is the host's (PoCL, rusticl on
 *            llvmpipe). It is enqueued as a native kernel where the driver
 *            runs those (PoCL), so the host still never waits inside the
 *            inference loop; elsewhere the host maps the operands (waiting
 *            for the queue), multiplies, and unmaps them.
 *   AUTO     HOST on such CPU devices when the library was built with a host
 *            BLAS: on CPUs CLBlast's kernels run far below the CPU's own BLAS
 *            (README, Performance). Elsewhere each network, when it is made,
 *            times its own GEMMs with CLBLAST and with KERNELS (calls and
 *            arithmetic together) and the context keeps the faster; the
 *            choice is stored per device and shape in the tuning cache
 *            (mupc_tune_cache_path) and read from it next time (not under
 *            MUPC_NO_TUNE).
 * The elementwise kernels run on the device with either; the providers
 * differ only in the rounding of the GEMMs. mupc_ctx_init takes the provider
 * from the environment variable MUPC_GEMM (auto, clblast, host, kernels) when it is
 * set, else AUTO, and fails with MUPC_EINVAL if it names no provider or one
 * the device cannot use. */
typedef enum {
  MUPC_GEMM_AUTO,
  MUPC_GEMM_CLBLAST,
  MUPC_GEMM_HOST,
  MUPC_GEMM_KERNELS,
  MUPC_GEMM_COUNT
} mupc_gemm;
MUPC_API const char *mupc_gemm_name(mupc_gemm g); /* "auto", "clblast", "host", "kernels" */
MUPC_API int mupc_gemm_from_name(const char *s);  /* -1 for an unknown name */
/* Chooses the provider of every GEMM enqueued on ctx from now on (it may
 * change between steps: both work on the same buffers, in queue order).
 * MUPC_EINVAL, and no change, if HOST is asked for where it cannot run. */
MUPC_API int mupc_ctx_set_gemm(mupc_ctx *ctx, mupc_gemm g);
/* The provider in use: CLBLAST, HOST or KERNELS, never AUTO. */
MUPC_API mupc_gemm mupc_ctx_gemm(const mupc_ctx *ctx);
/* Whether HOST can run on this context's device. */
MUPC_API int mupc_ctx_host_gemm_ok(const mupc_ctx *ctx);
/* How HOST GEMMs reach this context's queue: "native kernel" or "map". */
MUPC_API const char *mupc_ctx_host_gemm_dispatch(const mupc_ctx *ctx);
/* The host BLAS the library was built with, e.g. "OpenBLAS 0.3.21
 * DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64, 2 threads" (OpenBLAS
 * reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS once, when it loads; the
 * library never sets them), "" when built without one. */
MUPC_API void mupc_host_blas_describe(char *dst, size_t n);

/* ---- networks ---------------------------------------------------------- */

typedef struct mupc_net mupc_net;

/* Allocates every device buffer once and draws the initial weights on the
 * host from p->seed (see mupc_init_weights). */
MUPC_API int mupc_net_init(mupc_net **net, mupc_ctx *ctx, const mupc_net_params *p);
MUPC_API void mupc_net_free(mupc_net *net);
MUPC_API const mupc_net_params *mupc_net_get_params(const mupc_net *net);

/* Shape [out, in] of weight matrix `layer` (0-based, 0 … L-1). */
MUPC_API void mupc_net_weight_shape(const mupc_net *net, int layer, int *out_dim, int *in_dim);

typedef struct mupc_step_stats {
  float train_loss; /* loss of the feedforward output before inference */
  float energy;     /* total energy F after inference (PC), = loss for BP */
} mupc_step_stats;

/* One training step on one batch: x is (B, D), y is (B, C) one-hot.
 * Returns MUPC_ENONFINITE (weights left as updated) if the loss or energy is
 * not finite. */
MUPC_API int mupc_net_train_step(mupc_net *net, const float *x, const float *y, mupc_step_stats *stats);

/* The step in its parts, for tests and tools. train_step is exactly
 * load_batch, feedforward, infer(T), weight_grads, update. */
MUPC_API int mupc_net_load_batch(mupc_net *net, const float *x, const float *y);
MUPC_API int mupc_net_feedforward(mupc_net *net, float *train_loss);
MUPC_API int mupc_net_infer(mupc_net *net, int steps);
MUPC_API int mupc_net_weight_grads(mupc_net *net);
MUPC_API int mupc_net_update(mupc_net *net);
/* Energy at the current activities: per_layer has L entries (may be NULL),
 * *total their sum. Recomputes the errors. */
MUPC_API int mupc_net_energy(mupc_net *net, float *per_layer, float *total);
/* ∂F/∂z at the current activities into the ACTIVITY_GRAD tensors, without
 * changing the activities (recomputes the errors). */
MUPC_API int mupc_net_activity_grads(mupc_net *net);

/* Adam weight-update steps taken so far. */
MUPC_API int64_t mupc_net_optim_step(const mupc_net *net);
MUPC_API void mupc_net_set_optim_step(mupc_net *net, int64_t t);

/* Feedforward prediction of n samples (any n): yhat is (n, C), the output
 * f_L (softmax'd for CE). */
MUPC_API int mupc_net_predict(mupc_net *net, const float *x, int n, float *yhat);

/* Host copies of device tensors. `layer` is 0-based:
 *  WEIGHT, WEIGHT_GRAD, ADAM_M, ADAM_V: 0 … L-1, shape [out, in]
 *  ACTIVITY, ACTIVITY_GRAD: 0 … L-2 for z_1 … z_{L-1}, shape (B, N)
 *  ERROR: 0 … L-1 for e_1 … e_L, shape (B, N) or (B, C) */
typedef enum {
  MUPC_T_WEIGHT,
  MUPC_T_WEIGHT_GRAD,
  MUPC_T_ADAM_M,
  MUPC_T_ADAM_V,
  MUPC_T_ACTIVITY,
  MUPC_T_ACTIVITY_GRAD,
  MUPC_T_ERROR
} mupc_tensor_kind;

MUPC_API size_t mupc_net_tensor_size(const mupc_net *net, mupc_tensor_kind kind, int layer);
MUPC_API int mupc_net_read(mupc_net *net, mupc_tensor_kind kind, int layer, float *out);
MUPC_API int mupc_net_write(mupc_net *net, mupc_tensor_kind kind, int layer, const float *in);

/* The most enqueues (kernels and CLBlast calls) one inference step issued. */
MUPC_API int mupc_net_enqueues_per_inference_step(const mupc_net *net);
/* Enqueues issued since init (every kernel and CLBlast call). */
MUPC_API uint64_t mupc_net_enqueue_count(const mupc_net *net);
/* Floating-point operations of the GEMMs issued since init, counted as
 * 2·m·n·k per matrix product (what the wavefront actually ran). */
MUPC_API uint64_t mupc_net_flop_count(const mupc_net *net);
/* FLOPs of one training step counted as DESIGN §5, without the wavefront:
 * (2 + 2T) passes of 2·B·(D·N + (L-2)·N² + N·C) for PC, 3 for BP. */
MUPC_API double mupc_net_dense_flops_per_step(const mupc_net_params *p);
/* The device's SGEMM rate in GFLOP/s on this network's GEMM shapes,
 * batched as the step batches them (CLBlast, whatever the context's
 * provider; `reps` repetitions after one warm-up). The network's buffers
 * are overwritten. */
MUPC_API int mupc_net_sgemm_rate(mupc_net *net, int reps, double *gflops);
/* The host BLAS's rate on the same list of GEMMs, on host memory of the same
 * sizes (no device involved): the CPU's own yardstick. MUPC_EINVAL when the
 * library was built without a host BLAS. */
MUPC_API int mupc_net_host_sgemm_rate(const mupc_net *net, int reps, double *gflops);

/* ---- GEMM tuning --------------------------------------------------------
 * CLBlast's direct GEMM kernel (which runs every GEMM of a step at our
 * sizes) has tunable tile parameters. mupc_tune searches a set of them on a
 * network's shapes and stores the best per device (platform, device name,
 * driver version) in a cache file. Each candidate is timed once; the best
 * three are timed again (median of 5, like the defaults) and the fastest is
 * kept only if it beats the defaults by 3 %, since single timings of such
 * small GEMMs are noisy; mupc_ctx_init applies a cached entry
 * automatically. The cache is $MUPC_TUNE_CACHE, else
 * $XDG_CACHE_HOME/mupc/tune.json, else ~/.cache/mupc/tune.json. */
#define MUPC_TUNE_NPARAMS 10
typedef struct mupc_tune_result {
  double gflops_before; /* CLBlast's own parameters for the device */
  double gflops_after;  /* the kept candidate's median; equal to before (and
                         * nothing cached) when none beat the defaults by 3 % */
  int candidates_tried;
  char params[256]; /* "WGD=32 MDIMCD=8 ..." of the best */
  char cache_path[512];
} mupc_tune_result;
/* Called after each candidate (may be NULL): index, total, its GFLOP/s
 * (0 if it failed to build or run). */
typedef void (*mupc_tune_progress)(int index, int total, double gflops, void *arg);
MUPC_API int mupc_tune(mupc_ctx *ctx, const mupc_net_params *p, double budget_seconds,
              mupc_tune_progress progress, void *arg, mupc_tune_result *out);
/* The cache path in use, and whether ctx runs with tuned parameters. */
MUPC_API int mupc_tune_cache_path(char *dst, size_t n);
MUPC_API int mupc_ctx_tuned(const mupc_ctx *ctx);

/* ---- safetensors -------------------------------------------------------- */

typedef struct mupc_st_tensor {
  char name[128];
  int ndim;
  int64_t shape[4];
  float *data;          /* F32, row-major */
  char dtype[8];        /* as read: "F32", or another type for mupc_dataset_load */
  unsigned char *bytes; /* the little-endian elements of a non-F32 tensor */
} mupc_st_tensor;

typedef struct mupc_st_file {
  mupc_st_tensor *tensors;
  size_t ntensors;
  char **meta_keys; /* __metadata__, string to string */
  char **meta_values;
  size_t nmeta;
} mupc_st_file;

/* Writes atomically: a temporary file beside path, fsync, then rename. On
 * any failure the previous file at path is untouched. */
MUPC_API int mupc_st_write(const char *path, const mupc_st_file *f);
/* Reads and validates a whole file (F32 tensors only). Free with
 * mupc_st_free. */
MUPC_API int mupc_st_read(const char *path, mupc_st_file *out);
MUPC_API void mupc_st_free(mupc_st_file *f);
MUPC_API const mupc_st_tensor *mupc_st_find(const mupc_st_file *f, const char *name);
MUPC_API const char *mupc_st_meta(const mupc_st_file *f, const char *key);

/* ---- data -------------------------------------------------------------- */

typedef struct mupc_dataset {
  int count;       /* samples */
  int dim;         /* input values per sample: the product of its dimensions */
  int rows, cols;  /* the first dimension after the count, and the product of the rest */
  int classes;
  float *x;        /* (count, dim): bytes as (v/255 - mean) / std, F32 as (v - mean) / std */
  int32_t *labels; /* (count), each in 0 … classes-1 */
} mupc_dataset;

/* Data set layouts in a directory (README "Data" gives the exact files). */
typedef enum mupc_data_format {
  MUPC_DATA_AUTO = 0, /* decided by the files the directory holds */
  MUPC_DATA_IDX,      /* {train,t10k}-images-idxN-ubyte + labels-idx1-ubyte[.gz] */
  MUPC_DATA_CIFAR10,  /* data_batch_1 … 5.bin, test_batch.bin */
  MUPC_DATA_CIFAR100, /* train.bin, test.bin */
  MUPC_DATA_TENSORS,  /* train.safetensors, test.safetensors with x and y */
} mupc_data_format;
MUPC_API const char *mupc_data_format_name(mupc_data_format f);
/* -1 if the name is unknown (any case). */
MUPC_API int mupc_data_format_from_name(const char *name);

#define MUPC_NORM_MAX 16 /* channels with their own mean and std */

typedef struct mupc_data_opts {
  mupc_data_format format;
  int coarse;   /* CIFAR-100: 1 takes the 20 coarse labels, 0 the 100 fine ones */
  int classes;  /* 0: from the data (CIFAR's own count, else max label + 1) */
  int channels; /* entries of mean and std: 1 for all values, or one per channel */
  float mean[MUPC_NORM_MAX], std[MUPC_NORM_MAX];
} mupc_data_opts;

/* AUTO format, fine labels, classes from the data, one mean 0 and std 1. */
MUPC_API mupc_data_opts mupc_data_default_opts(void);
/* Which format dir holds (MUPC_EIO naming what was looked for if none). */
MUPC_API int mupc_data_detect(const char *dir, mupc_data_format *out);
/* The training (train = 1) or test split of dir in any format. With
 * several channels, values are normalised per channel along the axis after
 * the count whose size is o->channels, else along the last axis. */
MUPC_API int mupc_dataset_load(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out);
/* Both splits of dir: the training set, then the test set with the
 * training set's class count (a test set may miss the rarest class), whose
 * samples must have as many values (MUPC_ESHAPE naming dir otherwise). An
 * AUTO o->format becomes the format found, so that a checkpoint records
 * what was read. Nothing is kept on failure. */
MUPC_API int mupc_dataset_load_train_test(const char *dir, mupc_data_opts *o, mupc_dataset *train,
                                          mupc_dataset *test);

MUPC_API void mupc_dataset_free(mupc_dataset *d);
/* One-hot targets for samples idx[0 … n-1]: x (n, dim), y (n, classes). */
MUPC_API void mupc_dataset_gather(const mupc_dataset *d, const uint32_t *idx, int n, float *x, float *y);

/* ---- parameters by name --------------------------------------------------
 * One table describes every field of mupc_net_params and of mupc_train_opts
 * (below): its name, type, default, allowed values and help. The CLI's
 * flags and --help, the checkpoint metadata, --resume's checks and the
 * Python package all come from it, so a field added there appears in all of
 * them. Names are the CLI's flags without "--" ("infer-steps"); '_' may be
 * written for '-' ("infer_steps"), and case is ignored. */
typedef enum mupc_ptype {
  MUPC_PTYPE_INT,    /* int */
  MUPC_PTYPE_I64,    /* int64_t */
  MUPC_PTYPE_U64,    /* uint64_t */
  MUPC_PTYPE_FLOAT,  /* float */
  MUPC_PTYPE_BOOL,   /* int, 0 or 1: "true"/"false", "1"/"0", "on"/"off", "yes"/"no" */
  MUPC_PTYPE_ENUM,   /* an enum, written by name ("relu") */
  MUPC_PTYPE_STRING, /* char[MUPC_PATH_MAX] */
  MUPC_PTYPE_NORM    /* mupc_data_opts' channels, mean and std: "M,S" or "M1,…,Mc,S1,…,Sc" */
} mupc_ptype;

typedef enum mupc_pscope {
  MUPC_PSCOPE_NET,  /* a field of mupc_net_params */
  MUPC_PSCOPE_TRAIN /* a field of mupc_train_opts */
} mupc_pscope;

/* Row flags. */
#define MUPC_PFLAG_FROM_DATA 1u /* set from the data set by whoever loads it (input-dim,
                                 * output-dim): not a flag of `mupc train` */
#define MUPC_PFLAG_INTERNAL 2u  /* set by the library itself (norm-batch under MPI) */
#define MUPC_PFLAG_PER_RUN 4u   /* of one run, not of the checkpoint it continues: the plan,
                                 * evaluation, saving, where the data are now */

typedef struct mupc_param_info {
  const char *name;    /* "infer-steps" */
  const char *key;     /* checkpoint metadata key ("infer_steps"), NULL if not stored */
  mupc_pscope scope;
  mupc_ptype type;
  const char *metavar; /* "T", "X", "NAME" for --help */
  const char *def;     /* the default, as text */
  const char *allowed; /* "integer >= 0", "relu, tanh, ...", "number > 0" */
  const char *help;    /* one line */
  const char *absent;  /* value of a checkpoint without the key (older files); NULL: required */
  unsigned flags;      /* MUPC_PFLAG_* */
} mupc_param_info;

/* Row i of the table (0 … mupc_params_count()-1), NULL past the end. */
MUPC_API size_t mupc_params_count(void);
MUPC_API const mupc_param_info *mupc_params_info(size_t i);
/* The row called name ('-' or '_', any case), NULL if none. */
MUPC_API const mupc_param_info *mupc_params_find(const char *name);

/* Sets field `name` of p from text. MUPC_EINVAL when name is no field of
 * that struct (mupc_errmsg(): "no parameter 'widht' (did you mean
 * 'width'?)") or the text is not an allowed value (mupc_errmsg() then says
 * only what was expected and what came, "expected an integer >= 1, got '0'",
 * so that the caller names the field as its user spells it: --width,
 * width=). p is changed only on success. */
MUPC_API int mupc_params_set(mupc_net_params *p, const char *name, const char *value);
/* The field as text: the shortest text that sets it back exactly. */
MUPC_API int mupc_params_get(const mupc_net_params *p, const char *name, char *dst, size_t n);
/* The network's parameters as one JSON object under their checkpoint keys
 * (every row of mupc_net_params with a key, but internal ones): numbers as
 * numbers (floats in the shortest text of the float), switches as true or
 * false, choices by name: {"input_dim":784,...,"act":"relu",...}.
 * MUPC_EINVAL if it needs more than n bytes; MUPC_PARAMS_JSON_MAX always
 * suffices. */
#define MUPC_PARAMS_JSON_MAX 4096
MUPC_API int mupc_params_json(const mupc_net_params *p, char *dst, size_t n);

/* ---- training ------------------------------------------------------------
 * A trainer runs a net over a data set in the seeded batch order, evaluates,
 * and saves and loads checkpoints from which a run continues
 * bit-identically. `mupc train` is a client of it; so is the Python
 * package. */
#define MUPC_PATH_MAX 4096

typedef struct mupc_train_opts {
  int64_t steps;      /* the run's total steps, counting those before a resume (1500) */
  int epochs;         /* > 0: epochs × steps-per-epoch instead of steps (0) */
  int shuffle;        /* 1: a new order every epoch from (seed, epoch); 0: file order */
  int eval_every;     /* test-set evaluation every K steps (not on the last); 0: none (100) */
  int save_every;     /* with save: a checkpoint every K steps (0: none) */
  char save[MUPC_PATH_MAX];     /* where save_every writes ("": nowhere) */
  char data_dir[MUPC_PATH_MAX]; /* the data set's directory, recorded in checkpoints */
  mupc_data_opts data;          /* its format, CIFAR-100 label, classes and normalisation */
} mupc_train_opts;

/* steps 1500, shuffle, eval every 100, data_dir Debian's Fashion-MNIST,
 * AUTO format, normalisation (v/255 − 0.5)/0.5. */
MUPC_API mupc_train_opts mupc_train_default_opts(void);
MUPC_API int mupc_train_opts_set(mupc_train_opts *o, const char *name, const char *value);
MUPC_API int mupc_train_opts_get(const mupc_train_opts *o, const char *name, char *dst, size_t n);

typedef struct mupc_eval_result {
  double acc;  /* fraction of samples whose argmax prediction is the label */
  double loss; /* ½·mean‖y − ŷ‖² (mse) or −mean log p(label) (ce), DESIGN §3 */
  int count;
} mupc_eval_result;

/* Feedforward prediction of all of d (batch by batch) scored against its
 * labels. The net's activities are overwritten. */
MUPC_API int mupc_evaluate(mupc_net *net, const mupc_dataset *d, mupc_eval_result *out);

typedef struct mupc_train_metrics {
  int64_t step;  /* steps done after this one, counting those before a resume */
  int64_t epoch; /* 1-based epoch this step belongs to */
  float train_loss, energy;
  int evaluated; /* 1: test_acc and test_loss come from an evaluation after this step */
  double test_acc, test_loss;
} mupc_train_metrics;

/* Data parallelism (MPI, or anything else that can add numbers over
 * processes): each of `ranks` processes builds its net with
 * mupc_net_shard_params and a trainer with the same options and data; the
 * trainer feeds its net rows [rank·b, (rank+1)·b) of each global batch,
 * sums the weight gradients over the ranks with sum_floats before the
 * optimiser step (so every rank keeps identical weights), and sums losses
 * and evaluation counts with sum_doubles. Each function sums v[0 … n-1]
 * over all ranks in place and returns a status. */
typedef struct mupc_reduce {
  int rank, ranks;
  int (*sum_floats)(float *v, size_t n, void *arg);
  int (*sum_doubles)(double *v, size_t n, void *arg);
  void *arg;
} mupc_reduce;

/* The parameters one of `ranks` nets is built with (ranks divides
 * p->batch): batch B/ranks, gradients normalised by the global B. */
MUPC_API mupc_net_params mupc_net_shard_params(const mupc_net_params *global, int ranks);

/* Called after the weight gradients are computed and before the optimiser
 * uses them (the WEIGHT_GRAD tensors may be read and rewritten). */
typedef int (*mupc_grad_hook)(mupc_net *net, void *arg);
/* mupc_net_train_step with hook between the gradients and the update;
 * train_step is this with hook NULL. */
MUPC_API int mupc_net_train_step_hook(mupc_net *net, const float *x, const float *y,
                                      mupc_grad_hook hook, void *arg, mupc_step_stats *stats);

typedef struct mupc_trainer mupc_trainer;

/* A trainer of net over train (test may be NULL: no evaluation). The data
 * sets and net are the caller's and must outlive the trainer; the net's
 * input and output sizes must match the data. Starts at step 0.
 * MUPC_EINVAL when the training set holds no full batch. */
MUPC_API int mupc_trainer_init(mupc_trainer **tr, mupc_net *net, const mupc_dataset *train,
                               const mupc_dataset *test, const mupc_train_opts *o);
MUPC_API void mupc_trainer_free(mupc_trainer *tr);
/* NULL: no reduction (one process). Copied. */
MUPC_API int mupc_trainer_set_reduce(mupc_trainer *tr, const mupc_reduce *r);

/* The next batch in the seeded order, one training step, and what the
 * options ask after it: an evaluation every eval_every steps, a checkpoint
 * every save_every steps (held back until the next step's loss shows its
 * weights are finite). MUPC_ENONFINITE when the step diverged (m is filled,
 * no checkpoint of it is written). */
MUPC_API int mupc_trainer_step(mupc_trainer *tr, mupc_train_metrics *m);
/* Steps until the planned total. cb (may be NULL) sees every step's
 * metrics; a non-zero return stops the run after that step, and
 * mupc_trainer_run returns MUPC_EINTR. */
typedef int (*mupc_train_callback)(const mupc_train_metrics *m, void *arg);
MUPC_API int mupc_trainer_run(mupc_trainer *tr, mupc_train_callback cb, void *arg);
/* A step's metrics as one line of JSON (no newline), exactly what `mupc
 * train --metrics` writes (README, "Metrics"): {"step", "epoch",
 * "train_loss", "energy", "seconds"[, "test_acc", "test_loss"]}, where
 * seconds is the run's time so far; floats in the shortest text of the
 * float (mupc_format_number), a value that is not finite as null. And the
 * run's last line, {"final": true, "step", "test_acc", "test_loss",
 * "seconds"}. MUPC_EINVAL if the line needs more than n bytes;
 * MUPC_METRICS_JSON_MAX always suffices. */
#define MUPC_METRICS_JSON_MAX 320
MUPC_API int mupc_train_metrics_json(const mupc_train_metrics *m, double seconds, char *dst,
                                     size_t n);
MUPC_API int mupc_train_final_json(int64_t step, const mupc_eval_result *ev, double seconds,
                                   char *dst, size_t n);
/* Steps done (counting those before a load), the planned total, full
 * batches per epoch, and the step of the last checkpoint save_every wrote
 * (-1: none). */
MUPC_API int64_t mupc_trainer_position(const mupc_trainer *tr);
MUPC_API int64_t mupc_trainer_total_steps(const mupc_trainer *tr);
MUPC_API int64_t mupc_trainer_steps_per_epoch(const mupc_trainer *tr);
MUPC_API int64_t mupc_trainer_saved_step(const mupc_trainer *tr);
/* Changes the planned total (e.g. a resumed run given a new --steps). */
MUPC_API int mupc_trainer_set_total_steps(mupc_trainer *tr, int64_t steps);
/* DESIGN §3 evaluation on d (NULL: the test set). Under a reduce, each
 * rank predicts its share and the result is the whole set's. */
MUPC_API int mupc_trainer_evaluate(mupc_trainer *tr, const mupc_dataset *d, mupc_eval_result *out);

/* ---- checkpoints (safetensors) --------------------------------------------
 * Tensors: layers.{i}.weight (i = 0 … L-1, [out, in], F32) and, with Adam,
 * optim.layers.{i}.m and .v of the same shapes. __metadata__ (strings):
 * format "mupc-1", mupc_version, every table row with a key, optim_t, and,
 * from a trainer, the run's position (step, epoch, epoch_step, train_count):
 * everything a trainer needs to continue bit-identically. Files from older
 * versions load (rows' `absent` values). Writes are atomic: on any failure
 * the previous file at path is untouched. */
typedef struct mupc_checkpoint {
  mupc_net_params p; /* the (global) network parameters */
  int has_run;       /* 1: written by a trainer; o and the run's position are set */
  mupc_train_opts o; /* its options (save, save_every, eval_every: defaults) */
  int64_t step, epoch, epoch_step, train_count;
  int64_t optim_t; /* Adam's step */
  char version[32]; /* mupc_version that wrote it ("" if the file has none) */
} mupc_checkpoint;

/* The configuration of a checkpoint, validated, without its tensors. */
MUPC_API int mupc_checkpoint_read(const char *path, mupc_checkpoint *out);
/* Resuming from ck with parameter `name` given anew as p (or, for a
 * training option, o) holds it: have is "" when that agrees with ck (equal
 * values, -0 and 0 being the same rate; a MUPC_PFLAG_PER_RUN row; format
 * auto; a training option where o is NULL or ck has no run), else ck's
 * value as a phrase for the message that refuses it: "width 64", "skips
 * off", "10 classes". MUPC_EINVAL for an unknown name or a phrase longer
 * than n - 1. */
MUPC_API int mupc_checkpoint_conflict(const mupc_checkpoint *ck, const mupc_net_params *p,
                                      const mupc_train_opts *o, const char *name, char *have,
                                      size_t n);
/* The test split of dir (NULL: the directory ck records) read as the run
 * that wrote ck read its data: its format, label set, normalisation and
 * class count (ck's outputs). MUPC_ESHAPE when the samples do not have ck's
 * input size; path, ck's file, names it in that message. */
MUPC_API int mupc_checkpoint_test_set(const mupc_checkpoint *ck, const char *path,
                                      const char *dir, mupc_dataset *out);
/* The trainer's net, optimiser state, options and position. */
MUPC_API int mupc_trainer_save(mupc_trainer *tr, const char *path);
/* Continues from a checkpoint that a trainer with the same network, data
 * and options saved: weights, Adam state and step, position. */
MUPC_API int mupc_trainer_load(mupc_trainer *tr, const char *path);
/* A net alone: weights, Adam state and step, parameters (has_run 0). */
MUPC_API int mupc_net_save(mupc_net *net, const char *path);
/* Weights, Adam state and Adam step of a checkpoint whose shapes are the
 * net's (mupc_net_save's or a trainer's). */
MUPC_API int mupc_net_load(mupc_net *net, const char *path);
/* Only the layers.{i}.weight tensors of any safetensors file with the
 * net's shapes (mupc train --init). */
MUPC_API int mupc_net_load_weights(mupc_net *net, const char *path);

/* ---- benchmark -------------------------------------------------------------
 * mupc_bench times training steps of a net built from p on ctx, on a
 * synthetic batch of p's shape (inputs ~ U(-1, 1) from a fixed seed, labels
 * b mod C; no data set needed): `warmup` untimed steps first (the kernels
 * compile there), then `steps` timed ones (>= 1). Each timed step is split
 * into its feedforward, run and timed on its own before the step (which
 * repeats it), the inference with the weight gradients, the gradient sum
 * over the ranks and the weight update. A step that diverges is timed all
 * the same. Then the SGEMM rates on the step's GEMM shapes
 * (mupc_net_sgemm_rate, and mupc_net_host_sgemm_rate where the host BLAS
 * can run on ctx's device).
 * With a reduce of more than one rank, p is the global configuration
 * (ranks divides p->batch) and each rank steps its shard
 * (mupc_net_shard_params) through a trainer whose gradient sum is
 * reduce->sum_floats, timed after a sum of one double over the ranks, so
 * that waiting for a slower rank does not count as the sum. Every rank
 * must call it. */
#define MUPC_BENCH_API_MAX 48
typedef struct mupc_bench_result {
  int steps;                              /* timed */
  double step_median, step_min, step_max; /* seconds per step */
  double feedforward_median, inference_median, update_median; /* seconds */
  double reduce_median; /* seconds of the gradient sum over the ranks; 0 on one */
  /* The step (step_median's steps) in parts, medians in seconds: GEMMs
   * (device time of CLBlast's, thread time over the pool's threads of the
   * host provider's), other kernels (device kernels and fills, and the
   * host inference's element loops likewise), and the rest: dispatch,
   * joins, waiting for the queue. */
  double gemm_median, kernels_median, wait_median;
  double flops_dense;    /* per step of this rank's net, DESIGN §5 (no wavefront) */
  double flops_executed; /* per step, the GEMMs the step ran */
  double gflops_dense, gflops_executed; /* the flops over the median step */
  double sgemm_gflops;      /* CLBlast on the step's shapes */
  double host_sgemm_gflops; /* the host BLAS on them; 0 where it cannot run */
  double best_gemm_gflops;  /* the larger of the two */
  const char *best_gemm;    /* which: "host" or "clblast" */
  int enqueues_per_inference_step;
  uint64_t device_bytes; /* ctx's buffers */
  /* The job's throughput: the global batch over the slowest rank's median
   * step (every rank's step ends at the gradient sum). */
  double samples_per_second;
  /* OpenCL calls per training step, by function, counted over `steps`
   * more steps (without the timing's profiling) where the call counter is
   * preloaded (LD_PRELOAD=.../libmupc_clcount.so, tools/clcount.c); napi is
   * 0 otherwise. api_seconds is the host time in those calls per step,
   * waits for the device excluded; api_wait_seconds the waits'. */
  int napi;
  struct {
    const char *name; /* "clSetKernelArg" */
    double calls;     /* per step */
  } api[MUPC_BENCH_API_MAX];
  double api_seconds, api_wait_seconds;
} mupc_bench_result;

/* reduce may be NULL (one process). rank_medians, if not NULL, receives
 * every rank's median step (reduce->ranks of them, gathered with
 * sum_doubles; one without a reduce). */
MUPC_API int mupc_bench(mupc_ctx *ctx, const mupc_net_params *p, int steps, int warmup,
                        const mupc_reduce *reduce, double *rank_medians, mupc_bench_result *out);

/* ---- runs compared ---------------------------------------------------------
 * The same job on several devices (`mupc compare`): each device's run is
 * recorded, and every record is set against the first. */
typedef struct mupc_run_record {
  int64_t steps;         /* the options' plan */
  float *losses;         /* (steps) each step's training loss */
  double seconds_median; /* of a step */
  mupc_eval_result test; /* after the last step */
  float *weights;        /* (nweights) every weight matrix, layer after layer */
  size_t nweights;
} mupc_run_record;

/* Trains a net built from p on ctx through a trainer over train with o
 * (which plans the steps; no evaluation and no checkpoint on the way,
 * whatever o says), timing each step, then evaluates it on test. Free the
 * record with mupc_run_record_free. */
MUPC_API int mupc_run_record_make(mupc_ctx *ctx, const mupc_net_params *p,
                                  const mupc_train_opts *o, const mupc_dataset *train,
                                  const mupc_dataset *test, mupc_run_record *out);
MUPC_API void mupc_run_record_free(mupc_run_record *r);
/* How far run a is from ref: the largest relative difference of the final
 * weights (max|a − b| / max|b| over every weight, max|a − b| when b is all
 * zero) and of the loss curves (the largest |a_s − b_s| / |b_s| over the
 * steps). MUPC_ESHAPE when they differ in steps or weights. */
MUPC_API int mupc_run_record_diff(const mupc_run_record *a, const mupc_run_record *ref,
                                  double *weight_diff, double *loss_diff);

#ifdef __cplusplus
}
#endif

#endif /* MUPC_H */
