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

#define MUPC_VERSION "0.2.0"

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
const char *mupc_strerror(int status);
/* Detail of the last failure on this thread ("" if none). */
const char *mupc_errmsg(void);

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
int mupc_device_list(mupc_device_info **out, size_t *count);

/* The device a SPEC selects: "P:D", "cpu", "gpu", or a case-insensitive
 * substring of the platform name, platform vendor or device name (PoCL's
 * "pocl" appears only in its vendor). NULL or "" falls back to the
 * MUPC_DEVICE environment variable, then to the first GPU, the first CPU,
 * the first device. No match returns MUPC_ENODEVICE with a message that
 * names the SPEC and lists what exists. */
int mupc_device_select(const char *spec, mupc_device_info *out);

/* A context, in-order queue and program cache on one device. */
typedef struct mupc_ctx mupc_ctx;

int mupc_ctx_init(mupc_ctx **ctx, const char *spec);
void mupc_ctx_free(mupc_ctx *ctx);
const mupc_device_info *mupc_ctx_device(const mupc_ctx *ctx);
/* Build log of the last failed program build in this context ("" if none). */
const char *mupc_ctx_build_log(const mupc_ctx *ctx);
/* Device memory this context holds in buffers, in bytes. */
uint64_t mupc_ctx_device_bytes(const mupc_ctx *ctx);
/* Waits for everything enqueued on the context's queue (timing only). */
int mupc_ctx_finish(mupc_ctx *ctx);

/* ---- GEMM providers ------------------------------------------------------
 * Every GEMM of a context's networks runs through one provider:
 *   CLBLAST  CLBlast's kernels on the device (any device);
 *   HOST     the host's CBLAS (OpenBLAS) on the buffers' own memory: only for
 *            CPU devices whose memory is the host's (PoCL, rusticl on
 *            llvmpipe). It is enqueued as a native kernel where the driver
 *            runs those (PoCL), so the host still never waits inside the
 *            inference loop; elsewhere the host maps the operands (waiting
 *            for the queue), multiplies, and unmaps them.
 *   AUTO     HOST on such CPU devices when the library was built with a host
 *            BLAS, CLBLAST everywhere else: on CPUs CLBlast's kernels run far
 *            below the CPU's own BLAS (README, Performance).
 * The elementwise kernels run on the device with either; the providers
 * differ only in the rounding of the GEMMs. mupc_ctx_init takes the provider
 * from the environment variable MUPC_GEMM (auto, clblast, host) when it is
 * set, else AUTO, and fails with MUPC_EINVAL if it names no provider or one
 * the device cannot use. */
typedef enum { MUPC_GEMM_AUTO, MUPC_GEMM_CLBLAST, MUPC_GEMM_HOST, MUPC_GEMM_COUNT } mupc_gemm;
const char *mupc_gemm_name(mupc_gemm g); /* "auto", "clblast", "host" */
int mupc_gemm_from_name(const char *s);  /* -1 for an unknown name */
/* Chooses the provider of every GEMM enqueued on ctx from now on (it may
 * change between steps: both work on the same buffers, in queue order).
 * MUPC_EINVAL, and no change, if HOST is asked for where it cannot run. */
int mupc_ctx_set_gemm(mupc_ctx *ctx, mupc_gemm g);
/* The provider in use: MUPC_GEMM_CLBLAST or MUPC_GEMM_HOST, never AUTO. */
mupc_gemm mupc_ctx_gemm(const mupc_ctx *ctx);
/* Whether HOST can run on this context's device. */
int mupc_ctx_host_gemm_ok(const mupc_ctx *ctx);
/* How HOST GEMMs reach this context's queue: "native kernel" or "map". */
const char *mupc_ctx_host_gemm_dispatch(const mupc_ctx *ctx);
/* The host BLAS the library was built with, e.g. "OpenBLAS 0.3.21
 * DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64, 2 threads" (OpenBLAS
 * reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS once, when it loads; the
 * library never sets them), "" when built without one. */
void mupc_host_blas_describe(char *dst, size_t n);

/* ---- networks ---------------------------------------------------------- */

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
const char *mupc_act_name(mupc_act a);
const char *mupc_param_name(mupc_param p);
const char *mupc_loss_name(mupc_loss l);
const char *mupc_optim_name(mupc_optim o);
const char *mupc_aoptim_name(mupc_aoptim o);
const char *mupc_algo_name(mupc_algo a);
const char *mupc_rng_name(mupc_rng r); /* "philox4x32-10", "splitmix64" */
int mupc_act_from_name(const char *s);
int mupc_param_from_name(const char *s);
int mupc_loss_from_name(const char *s);
int mupc_optim_from_name(const char *s);
int mupc_aoptim_from_name(const char *s);
int mupc_algo_from_name(const char *s);
int mupc_rng_from_name(const char *s);

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
mupc_net_params mupc_net_default_params(void);
/* MUPC_OK or MUPC_EINVAL with mupc_errmsg() naming the bad field. */
int mupc_net_params_check(const mupc_net_params *p);

typedef struct mupc_net mupc_net;

/* Allocates every device buffer once and draws the initial weights on the
 * host from p->seed (see mupc_init_weights). */
int mupc_net_init(mupc_net **net, mupc_ctx *ctx, const mupc_net_params *p);
void mupc_net_free(mupc_net *net);
const mupc_net_params *mupc_net_get_params(const mupc_net *net);

/* Shape [out, in] of weight matrix `layer` (0-based, 0 … L-1). */
void mupc_net_weight_shape(const mupc_net *net, int layer, int *out_dim, int *in_dim);

typedef struct mupc_step_stats {
  float train_loss; /* loss of the feedforward output before inference */
  float energy;     /* total energy F after inference (PC), = loss for BP */
} mupc_step_stats;

/* One training step on one batch: x is (B, D), y is (B, C) one-hot.
 * Returns MUPC_ENONFINITE (weights left as updated) if the loss or energy is
 * not finite. */
int mupc_net_train_step(mupc_net *net, const float *x, const float *y, mupc_step_stats *stats);

/* The step in its parts, for tests and tools. train_step is exactly
 * load_batch, feedforward, infer(T), weight_grads, update. */
int mupc_net_load_batch(mupc_net *net, const float *x, const float *y);
int mupc_net_feedforward(mupc_net *net, float *train_loss);
int mupc_net_infer(mupc_net *net, int steps);
int mupc_net_weight_grads(mupc_net *net);
int mupc_net_update(mupc_net *net);
/* Energy at the current activities: per_layer has L entries (may be NULL),
 * *total their sum. Recomputes the errors. */
int mupc_net_energy(mupc_net *net, float *per_layer, float *total);
/* ∂F/∂z at the current activities into the ACTIVITY_GRAD tensors, without
 * changing the activities (recomputes the errors). */
int mupc_net_activity_grads(mupc_net *net);
/* The most enqueues (kernels and CLBlast calls) one inference step issued. */
int mupc_net_enqueues_per_inference_step(const mupc_net *net);
/* Enqueues issued since init (every kernel and CLBlast call). */
uint64_t mupc_net_enqueue_count(const mupc_net *net);
/* Floating-point operations of the GEMMs issued since init, counted as
 * 2·m·n·k per matrix product (what the wavefront actually ran). */
uint64_t mupc_net_flop_count(const mupc_net *net);
/* FLOPs of one training step counted as DESIGN §5, without the wavefront:
 * (2 + 2T) passes of 2·B·(D·N + (L-2)·N² + N·C) for PC, 3 for BP. */
double mupc_net_dense_flops_per_step(const mupc_net_params *p);
/* The device's SGEMM rate in GFLOP/s on this network's GEMM shapes,
 * batched as the step batches them (CLBlast, whatever the context's
 * provider; `reps` repetitions after one warm-up). The network's buffers
 * are overwritten. */
int mupc_net_sgemm_rate(mupc_net *net, int reps, double *gflops);
/* The host BLAS's rate on the same list of GEMMs, on host memory of the same
 * sizes (no device involved): the CPU's own yardstick. MUPC_EINVAL when the
 * library was built without a host BLAS. */
int mupc_net_host_sgemm_rate(const mupc_net *net, int reps, double *gflops);
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
int mupc_tune(mupc_ctx *ctx, const mupc_net_params *p, double budget_seconds,
              mupc_tune_progress progress, void *arg, mupc_tune_result *out);
/* The cache path in use, and whether ctx runs with tuned parameters. */
int mupc_tune_cache_path(char *dst, size_t n);
int mupc_ctx_tuned(const mupc_ctx *ctx);

/* Adam weight-update steps taken so far. */
int64_t mupc_net_optim_step(const mupc_net *net);
void mupc_net_set_optim_step(mupc_net *net, int64_t t);

/* Feedforward prediction of n samples (any n): yhat is (n, C), the output
 * f_L (softmax'd for CE). */
int mupc_net_predict(mupc_net *net, const float *x, int n, float *yhat);

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

size_t mupc_net_tensor_size(const mupc_net *net, mupc_tensor_kind kind, int layer);
int mupc_net_read(mupc_net *net, mupc_tensor_kind kind, int layer, float *out);
int mupc_net_write(mupc_net *net, mupc_tensor_kind kind, int layer, const float *in);

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
void mupc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
double mupc_rng_uniform(uint32_t word);
/* Writes the initial weights of `layer` (0-based): out_dim·in_dim floats. */
void mupc_init_weights(const mupc_net_params *p, int layer, float *w);
/* Per-layer scale a_l (layer 0-based) and skip s_l as in DESIGN §1. */
float mupc_layer_scale(const mupc_net_params *p, int layer);
float mupc_layer_skip(const mupc_net_params *p, int layer);

/* A permutation of 0 … n-1 for one epoch, from (seed, epoch), by Philox; the
 * _rng form takes the generator (a run's p->rng). */
void mupc_shuffle(uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch);
void mupc_shuffle_rng(mupc_rng rng, uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch);

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
const char *mupc_data_format_name(mupc_data_format f);
/* -1 if the name is unknown (any case). */
int mupc_data_format_from_name(const char *name);

#define MUPC_NORM_MAX 16 /* channels with their own mean and std */

typedef struct mupc_data_opts {
  mupc_data_format format;
  int coarse;   /* CIFAR-100: 1 takes the 20 coarse labels, 0 the 100 fine ones */
  int classes;  /* 0: from the data (CIFAR's own count, else max label + 1) */
  int channels; /* entries of mean and std: 1 for all values, or one per channel */
  float mean[MUPC_NORM_MAX], std[MUPC_NORM_MAX];
} mupc_data_opts;

/* AUTO format, fine labels, classes from the data, one mean 0 and std 1. */
mupc_data_opts mupc_data_default_opts(void);
/* Which format dir holds (MUPC_EIO naming what was looked for if none). */
int mupc_data_detect(const char *dir, mupc_data_format *out);
/* The training (train = 1) or test split of dir in any format. With
 * several channels, values are normalised per channel along the axis after
 * the count whose size is o->channels, else along the last axis. */
int mupc_dataset_load(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out);

/* Reads an IDX image file (any rank >= 2, flattened) and label file (raw,
 * or gzip when the name ends in .gz). Validates magic, element type,
 * dimensions, counts and labels < classes. */
int mupc_idx_load(const char *images_path, const char *labels_path, int classes, float mean,
                  float std, mupc_dataset *out);
/* IDX files of dir: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
int mupc_dataset_load_dir(const char *dir, int train, int classes, float mean, float std,
                          mupc_dataset *out);
void mupc_dataset_free(mupc_dataset *d);
/* One-hot targets for samples idx[0 … n-1]: x (n, dim), y (n, classes). */
void mupc_dataset_gather(const mupc_dataset *d, const uint32_t *idx, int n, float *x, float *y);

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
int mupc_st_write(const char *path, const mupc_st_file *f);
/* Reads and validates a whole file (F32 tensors only). Free with
 * mupc_st_free. */
int mupc_st_read(const char *path, mupc_st_file *out);
void mupc_st_free(mupc_st_file *f);
const mupc_st_tensor *mupc_st_find(const mupc_st_file *f, const char *name);
const char *mupc_st_meta(const mupc_st_file *f, const char *key);

#ifdef __cplusplus
}
#endif

#endif /* MUPC_H */
