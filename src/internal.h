/* Internal interfaces shared by the library's files; not installed.
 * Sections go from the bottom of the library up: status.c calls no other
 * file, the context (device.c) uses provider.c and the tuned
 * parameter store (tune/store.h), and the data-set files call only each
 * other, status.c and atomic.c. What works on a network is in net.h. */
#ifndef MUPC_INTERNAL_H
#define MUPC_INTERNAL_H

#include "mupc.h"

#include <CL/cl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

/* ---- errors (status.c) ---- */

/* Sets the thread's mupc_errmsg() and returns status, so a failure reads
 * `return mupc__fail(MUPC_EINVAL, "width must be >= 1, got %d", w);` */
int mupc__fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mupc__clear_errmsg(void);
/* Name of an OpenCL or CLBlast code, or NULL if it is neither. */
const char *mupc__cl_error_name(int code);
/* Lowercase copy of s into dst (at most n bytes with the terminator):
 * here because device matching and the data readers both fold names. */
void mupc__lower(char *dst, const char *s, size_t n);
/* Room for one more item in a growing array of n items of `size` bytes
 * (*cap of them allocated, doubling from 32); *items may move. */
int mupc__room(void **items, size_t *cap, size_t n, size_t size);

/* ---- one atomic file replace (atomic.c, on status.c alone) ----
 * Every file the library writes goes through here: a temporary file beside
 * the path, flushed and fsync'd, renamed over it, the directory fsync'd.
 * Readers of the path see the old file or the new one; on any failure the
 * old file stays and no temporary is left. Failures name the path:
 * "PATH: WHAT: strerror", MUPC_ENOSPC for a full disk or quota, else
 * MUPC_EIO. */
typedef struct mupc__atomic {
  const char *path; /* the target (the caller's string, kept until commit) */
  char *tmp;        /* the temporary file: path + ".tmp.XXXXXX" */
  FILE *fp;         /* open for writing the new contents */
} mupc__atomic;
/* The failure of `what` (an errno of 0 reads as EIO) on path. */
int mupc__write_fail(const char *path, const char *what, int err);
/* Creates the temporary file, with the replaced file's mode (else 0644),
 * and opens a->fp on it. Nothing is left to undo on failure. */
int mupc__atomic_open(const char *path, mupc__atomic *a);
/* Flushes, fsyncs and closes the temporary, renames it over the path and
 * fsyncs the directory; on failure, aborts. Either way a is done with. */
int mupc__atomic_commit(mupc__atomic *a);
/* Closes and removes the temporary: the path keeps its old file. Safe to
 * call again, and after a failed commit. */
void mupc__atomic_abort(mupc__atomic *a);
/* n bytes of data as the whole new file at path: open, write, commit. */
int mupc__atomic_write(const char *path, const void *data, size_t n);

/* ---- names and kinds (init.c) ---- */

/* Index of s among n lower-case names, in any ASCII case ("ReLU" is
 * "relu"), -1 if none: every *_from_name and the table's word lists. */
int mupc__name_index(const char *const *names, int n, const char *s);

/* The library's kernels in cl/, one list: net.h's struct of them, their
 * ids (MUPC__K_name) and the names net.c creates them by. The net holds
 * one object of each kernel in MUPC__KERNELS; the fused products of
 * MUPC__KEYED_KERNELS get one object per distinct call instead
 * (mupc__net_kernel_for), so they have ids and names but no net field. */
#define MUPC__KERNELS(X)                                                       \
  X(ff_first) X(ff_hidden) X(pc_errors) X(out_error) X(pc_update) X(pc_update_adam)      \
  X(bp_backward) X(refresh_act) X(residual) X(rebase) X(adam_update) X(sgd_update)     \
  X(layer_energy) X(transpose)
#define MUPC__KEYED_KERNELS(X)                                                 \
  X(sgemm_errors) X(sgemm_update) X(sgemm_update_adam) X(sgemm_ff_first) X(sgemm_ff)
enum {
#define MUPC__KERNEL_ID(name) MUPC__K_##name,
  MUPC__KERNELS(MUPC__KERNEL_ID)
  MUPC__K_NET, /* the net's own: ids below this */
  /* so that the keyed kernels' ids go on from MUPC__K_NET, as net.c's
   * names do */
  MUPC__K_KEYED_BEFORE = MUPC__K_NET - 1,
  MUPC__KEYED_KERNELS(MUPC__KERNEL_ID)
#undef MUPC__KERNEL_ID
  MUPC__K_COUNT
};

/* One row per activation (indexed by mupc_act) and per activity optimiser
 * (mupc_aoptim): the name users write, what it is, and what the kernels
 * need of it. Adding one is a row here and its code in cl/. */
typedef struct mupc__act_row {
  const char *name, *help;
  const char *macro; /* cl/common.cl's ACT_* the program is built with */
} mupc__act_row;
typedef struct mupc__aoptim_row {
  const char *name, *help;
  int kernel;      /* MUPC__K_*: the activity update it runs */
  int fused;       /* MUPC__K_*: the same after the back-projection's product (cl/gemm.cl) */
  int state;       /* keeps per-activity state (zm, zv), reset each batch */
} mupc__aoptim_row;
extern const mupc__act_row mupc__acts[MUPC_ACT_COUNT];
extern const mupc__aoptim_row mupc__aoptims[MUPC_AOPTIM_COUNT];

/* ---- seeded weights (rng.c) ---- */

/* n initial weights of weight layer `layer` with the given fan-in, from
 * p's seed, generator and parameterisation: mupc_init_weights with the
 * shape given (the layer plan's, plan.c), so rng.c needs no plan. */
void mupc__init_weights(const mupc_net_params *p, int layer, size_t n, int fan_in, float *w);

/* ---- numbers and names as text, timings (text.c) ---- */

/* A letter as parameter names compare: any case, '_' as '-'. */
int mupc__name_char(char c);

/* Strict numbers: the whole text, no blanks; 1 on success, *out written
 * only then. A float must be finite as a float; a u64 has no sign. The
 * public mupc_parse_* add the range and the message. */
int mupc__parse_i64(const char *s, int64_t *out);
int mupc__parse_u64(const char *s, uint64_t *out);
int mupc__parse_float(const char *s, float *out);
/* Whether lo <= v <= hi, an open end excluding its value, an infinite end
 * no bound. */
int mupc__in_range(double v, double lo, double hi, int lo_open, int hi_open);
/* The shortest decimal that strtof reads back to the same float, from six
 * digits on: the checkpoint metadata's and the parameter table's text. */
void mupc__format_float(float v, char *dst, size_t n);
/* Seconds on a monotonic clock; the median of v[0 … n-1] (n >= 1, sorts v). */
double mupc__seconds(void);
double mupc__median(double *v, size_t n);

/* ---- context (device.c) ---- */

/* A buffer the context knows (provider.c): its size, and its address as
 * native kernels see it once learnt (NULL before). */
typedef struct mupc__host_ptr {
  cl_mem mem;
  float *ptr;
  size_t bytes;
} mupc__host_ptr;

typedef struct mupc__program_entry {
  char *key; /* options + '\n' + source names */
  cl_program program;
} mupc__program_entry;

struct mupc_ctx {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
  mupc_device_info info;
  char *build_log;
  mupc__program_entry *programs;
  size_t nprograms;
  uint64_t device_bytes;
  int tuned; /* cached CLBlast parameters applied */
  mupc_gemm gemm;       /* the provider in use: CLBLAST, HOST or KERNELS */
  int gemm_auto;        /* AUTO off the host: each net measures CLBLAST against KERNELS */
  int fuse;             /* KERNELS runs the fused products (MUPC_NO_FUSE unset at creation) */
  int host_gemm_ok;     /* a CPU device sharing the host's memory, and a host BLAS */
  int host_native;      /* HOST GEMMs go in as native kernels (else map/unmap) */
  cl_mem_flags mem_flags; /* of every buffer (ALLOC_HOST_PTR where HOST may run) */
  size_t wg;              /* work-group size of the elementwise kernels */
  mupc__host_ptr *host_ptrs; /* learnt buffer addresses, for native kernels */
  size_t nhost_ptrs, cap_host_ptrs;
  struct mupc__product *products; /* the KERNELS provider's kernel objects (provider.c) */
  size_t nproducts, cap_products;
  atomic_int host_fault; /* a native-kernel GEMM found unexpected addresses */
  /* profile.c: while profiling, the events of the enqueues and their kinds */
  int profiling;
  cl_event *prof_events;
  unsigned char *prof_kind;
  size_t prof_n, prof_cap;
};

/* ---- the step's time in parts (profile.c), for mupc bench ---- */
enum { MUPC__PROF_GEMM, MUPC__PROF_KERNEL, MUPC__PROF_KINDS };
/* The event to pass to an enqueue of this kind, NULL when not profiling. */
cl_event *mupc__profile_slot(mupc_ctx *ctx, int kind);
/* Host work: whether to time it, a clock, and thread time to add. */
int mupc__profile_host_on(void);
uint64_t mupc__profile_now(void);
void mupc__profile_host(int kind, uint64_t ns);
/* Around one step: begin, then after the queue finished, end gives the
 * seconds of each kind (device time plus host thread time over the pool's
 * threads). */
void mupc__profile_begin(mupc_ctx *ctx);
void mupc__profile_end(mupc_ctx *ctx, double seconds[MUPC__PROF_KINDS]);

/* Allocates a device buffer; a failure names the device and the bytes
 * asked for (MUPC_EDEVMEM). Buffers are zero-filled. */
int mupc__buffer_alloc(mupc_ctx *ctx, size_t bytes, cl_mem *out);
void mupc__buffer_free(mupc_ctx *ctx, cl_mem *buf, size_t bytes);
/* Floats [off, off + n) of buf into out, waiting for the queue, then the
 * host calls' fault check (every blocking read needs both); `what` names
 * the tensor in a failure. */
int mupc__buffer_read(mupc_ctx *ctx, cl_mem buf, size_t off, size_t n, float *out,
                      const char *what);

/* ---- GEMM providers (provider.c): the context's part ----
 * Below the context: device.c calls these when it creates a context,
 * waits for its queue and releases a buffer. */
/* Fills host_gemm_ok, host_native and mem_flags from the device, then
 * takes the provider from MUPC_GEMM (else AUTO). */
int mupc__gemm_ctx_init(mupc_ctx *ctx);
/* A new buffer's size, so that no call in the training loop asks the
 * driver for it; a released buffer's entry is dropped (its handle may
 * return). */
int mupc__gemm_note_buffer(mupc_ctx *ctx, cl_mem buf, size_t bytes);
void mupc__gemm_forget_buffer(mupc_ctx *ctx, cl_mem buf);
/* buf's size in bytes: noted, or asked of the driver once. */
int mupc__buffer_bytes(mupc_ctx *ctx, cl_mem buf, size_t *bytes);
/* MUPC_EGEMM if a native-kernel GEMM has failed since the context began;
 * called wherever the host has waited for the queue. */
int mupc__gemm_check_fault(mupc_ctx *ctx);
/* A host function run in the queue's order on host views of device
 * buffers: fn(arg copy, ptrs) with ptrs[i] the address of mems[i]'s first
 * float. A native kernel where the driver runs them (the host thread does
 * not wait), else map, call, unmap (it waits for the queue). arg is copied
 * (at most MUPC__HOST_MAX_ARG bytes). Only where host_gemm_ok. */
#define MUPC__HOST_MAX_BUFFERS 24
#define MUPC__HOST_MAX_ARG 512
typedef void (*mupc__host_fn)(void *arg, float *const *ptrs);
int mupc__host_call(mupc_ctx *ctx, mupc__host_fn fn, const void *arg, size_t arg_size,
                    const cl_mem *mems, int nmem);
/* Tests only: host calls through map/unmap even where native kernels run. */
void mupc__gemm_force_map(mupc_ctx *ctx, int on);
/* ---- execution: GEMMs (gemm.c) and kernels (launch.c) ----
 * Above the provider and below every network: each call takes the
 * context and the caller's counters. */
typedef struct mupc__counters {
  uint64_t enqueues; /* every GEMM, kernel, fill and host call */
  uint64_t flops;    /* GEMM FLOPs issued */
} mupc__counters;

/* ---- gemm.c: every GEMM, row-major, counted as one enqueue ----
 * C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i] for i < batch, with
 * offsets and strides in floats. */
typedef struct mupc__gemm_args {
  int trans_a, trans_b;
  size_t m, n, k;
  float alpha, beta;
  cl_mem a;
  size_t a_off, lda, a_stride;
  cl_mem b;
  size_t b_off, ldb, b_stride;
  cl_mem c;
  size_t c_off, ldc, c_stride, batch;
} mupc__gemm_args;
/* On the given provider (CLBLAST, HOST or KERNELS; ctx->gemm for the
 * context's), counted in count. */
int mupc__gemm_run(mupc_ctx *ctx, mupc__counters *count, mupc_gemm provider,
                   const mupc__gemm_args *g);

/* ---- launch.c: the library's own kernels ----
 * Arguments go in as (size, address) pairs, a run of them from index
 * `first`:
 *   MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__INT(count), MUPC__FLOAT(s)));
 * The typed wrappers spell out the type each kernel parameter has in cl/,
 * since clSetKernelArg checks only the size. A failure names the kernel and
 * the argument's index. */
typedef struct mupc__arg {
  size_t size;
  const void *value;
} mupc__arg;
/* A kernel and the values its arguments hold: an argument whose value is
 * the one it holds is not set again (OpenCL keeps arguments between
 * launches), so a launch sets only what changed. */
enum { MUPC__KERNEL_ARGS = 32 };
typedef struct mupc__kernel {
  cl_kernel k;
  uint32_t known;                       /* bit i: last[i] holds argument i */
  unsigned char size[MUPC__KERNEL_ARGS];
  uint64_t last[MUPC__KERNEL_ARGS];     /* the value's bytes (every argument is <= 8) */
} mupc__kernel;
int mupc__kernel_args(mupc__kernel *k, cl_uint first, const mupc__arg *args, size_t n);
#define MUPC__MEM(v) ((mupc__arg){sizeof(cl_mem), &(cl_mem){(v)}})
#define MUPC__INT(v) ((mupc__arg){sizeof(int), &(int){(v)}})
#define MUPC__FLOAT(v) ((mupc__arg){sizeof(float), &(float){(v)}})
#define MUPC__ARGS(k, first, ...)                                              \
  mupc__kernel_args((k), (first), (const mupc__arg[]){__VA_ARGS__},             \
                    sizeof((const mupc__arg[]){__VA_ARGS__}) / sizeof(mupc__arg))
/* Enqueues a 1-D kernel over n items, rounded up to the context's
 * work-group size, counted in count. */
int mupc__launch(mupc_ctx *ctx, mupc__counters *count, cl_kernel k, size_t n);
/* Zeroes floats [off, off + n) of buf. */
int mupc__fill_zero(mupc_ctx *ctx, mupc__counters *count, cl_mem buf, size_t off, size_t n);
/* cl/gemm.cl's kernels: the product's 19 arguments from index 0, and a
 * launch of (⌈n/tile⌉·tile, ⌈m/tile⌉·tile, batch) in tile² groups,
 * counted as one enqueue with the product's FLOPs. */
int mupc__gemm_kernel_args(mupc__kernel *k, const mupc__gemm_args *g);
int mupc__launch_gemm(mupc_ctx *ctx, mupc__counters *count, cl_kernel k, const mupc__gemm_args *g,
                      int tile);

/* The KERNELS provider's kernel object for product g (provider.c): made
 * with every argument set at its first call, reused after; tile is the
 * work-group side it was built for. mupc__gemm_ctx_free releases them
 * (and the rest of the provider's state) with the context. */
typedef struct mupc__product {
  mupc__gemm_args g;
  mupc__kernel k;
} mupc__product;
int mupc__gemm_product(mupc_ctx *ctx, const mupc__gemm_args *g, cl_kernel *k, int *tile);
/* The work-group side cl/gemm.cl is built with on ctx's device. */
int mupc__gemm_tile(const mupc_ctx *ctx);
void mupc__gemm_ctx_free(mupc_ctx *ctx);


/* Returns the status of expr from the calling function when it fails. */
#define MUPC__TRY(expr)                                                        \
  do {                                                                         \
    int rc__ = (expr);                                                         \
    if (rc__) return rc__;                                                     \
  } while (0)

/* ---- the host provider's arithmetic (hostgemm.c, on pool.c) ---- */
/* Row-major C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i], i < batch, on host
 * memory (strides in floats): LIBXSMM's JIT kernels where they apply, else
 * the host BLAS. Only where a host BLAS is built in (MUPC_HAVE_HOST_BLAS). */
void mupc__host_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, size_t a_stride, const float *b, size_t ldb,
                      size_t b_stride, float beta, float *c, size_t ldc, size_t c_stride,
                      size_t batch);

/* Rows of C in one product of the host provider: fixed, whatever the
 * thread count, because LIBXSMM's kernel for another row count may sum in
 * another order (11 rows did, against 32). So every sample's products
 * round the same for any thread count, and for any batch that is a
 * multiple of this (data-parallel ranks included). */
#define MUPC__HOST_ROWS 16

/* The host thread pool (pool.c): fn(arg, i) for every i < ntasks, spread
 * over the pool's threads and the caller's; returns when all are done.
 * The pool starts at first use. */
void mupc__pool_for(size_t ntasks, void (*fn)(void *, size_t), void *arg);
/* Threads a pool_for runs on, the caller's included. */
int mupc__pool_threads(void);

/* ---- programs (program.c) ---- */

/* Source text of cl/<name> (embedded, or read from the source tree when
 * built with -Dembed_kernels=false). NULL if there is no such file. The
 * returned string is owned by the library. */
const char *mupc__kernel_source(const char *name);

/* Builds (or returns from the context's cache) a program from the
 * concatenated cl/ files `names` with `options`. The device's defines
 * (-DMUPC_WG=..., -DMUPC_DEVICE_CPU/GPU) are added. On failure returns
 * MUPC_EBUILD and keeps the log in ctx->build_log. */
int mupc__program_get(mupc_ctx *ctx, const char *const *names, size_t nnames,
                      const char *options, cl_program *out);
/* Same for a literal source (tests feed broken kernels through this). */
int mupc__program_from_source(mupc_ctx *ctx, const char *source, const char *options,
                              cl_program *out);

/* ---- data sets ----
 * dataset.c (formats, directories, the tensor format) calls the readers
 * idx.c, cifar.c and safetensors.c; every format ends in normalise.c's
 * mupc__data_finish, below them all. */

#define MUPC__MAX_DIMS 8

/* A data set as a reader found it, before normalisation. */
typedef struct mupc__raw {
  int ndim;
  int64_t shape[MUPC__MAX_DIMS]; /* shape[0] is the sample count */
  uint8_t *u8;                   /* the values: exactly one of u8 and f32 */
  float *f32;
  int32_t *labels; /* shape[0] of them, each >= 0 */
  int classes;     /* the format's own class count; 0: max label + 1 */
} mupc__raw;

/* normalise.c */
void mupc__raw_free(mupc__raw *r);
/* Checks the labels against the class count and normalises the values
 * into out (taking raw's buffers). The paths name the files in messages. */
int mupc__data_finish(const char *x_path, const char *y_path, mupc__raw *raw,
                      const mupc_data_opts *o, mupc_dataset *out);
/* The readers: idx.c, cifar.c, safetensors.c. */
int mupc__idx_read(const char *images_path, const char *labels_path, mupc__raw *out);
/* An IDX image file (any rank >= 2, flattened) and label file (raw, or gzip
 * when the name ends in .gz) on their own paths, normalised with one mean
 * and std, the arguments checked: the reader file by file, as the tests and
 * the IDX fuzzer drive it. Not public: a library user loads a directory
 * with mupc_dataset_load (format MUPC_DATA_IDX), which reads the same
 * files. */
int mupc__idx_load(const char *images_path, const char *labels_path, int classes, float mean,
                   float std, mupc_dataset *out);
/* Concatenates n CIFAR binary batches (CIFAR-100 when cifar100 is set). */
int mupc__cifar_read(const char *const *paths, int n, int cifar100, int coarse, mupc__raw *out);
/* mupc_st_read with options: MUPC__ST_ANY_DTYPE takes any of the element
 * types data sets use, not only F32; MUPC__ST_HEADER_ONLY validates the
 * whole layout (the data section's size included) but reads no tensor data
 * (data and bytes stay NULL): what a caller that needs only the metadata
 * asks for. */
#define MUPC__ST_ANY_DTYPE 1
#define MUPC__ST_HEADER_ONLY 2
int mupc__st_read(const char *path, int flags, mupc_st_file *out);

#endif
