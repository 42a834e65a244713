/* An OpenCL call counter to preload (issue 25): every OpenCL function that
 * libmupc and CLBlast call is wrapped, counted and timed on the host, then
 * handed to the driver's own. `mupc bench --json` reports the counts per
 * training step (api_calls_per_step) when this library is loaded:
 *
 *   LD_PRELOAD=build/tools/libmupc_clcount.so mupc bench --json
 *
 * Host time is split into time in calls that wait for the device (clFinish,
 * clWaitForEvents, blocking reads, writes and maps) and time in all others:
 * the latter is what an OpenCL call costs the host before any arithmetic.
 * One table lists the functions (CL_FUNCTIONS); the counters are atomics,
 * so the pool's threads may call in too. */
#define _GNU_SOURCE
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* X(return type, name, (parameters), (arguments), index of a cl_bool
 * blocking argument or -1). */
#define CL_FUNCTIONS(X)                                                                            \
  X(cl_int, clBuildProgram,                                                                        \
    (cl_program p, cl_uint n, const cl_device_id *d, const char *o,                                \
     void(CL_CALLBACK *f)(cl_program, void *), void *u),                                           \
    (p, n, d, o, f, u), 0)                                                                         \
  X(cl_mem, clCreateBuffer, (cl_context c, cl_mem_flags f, size_t s, void *h, cl_int *e),          \
    (c, f, s, h, e), 0)                                                                            \
  X(cl_kernel, clCreateKernel, (cl_program p, const char *n, cl_int *e), (p, n, e), 0)             \
  X(cl_program, clCreateProgramWithSource,                                                         \
    (cl_context c, cl_uint n, const char **s, const size_t *l, cl_int *e), (c, n, s, l, e), 0)     \
  X(cl_program, clCreateProgramWithBinary,                                                         \
    (cl_context c, cl_uint n, const cl_device_id *d, const size_t *l, const unsigned char **b,     \
     cl_int *st, cl_int *e),                                                                       \
    (c, n, d, l, b, st, e), 0)                                                                     \
  X(cl_int, clEnqueueCopyBuffer,                                                                   \
    (cl_command_queue q, cl_mem s, cl_mem d, size_t so, size_t doff, size_t n, cl_uint ne,         \
     const cl_event *w, cl_event *ev),                                                             \
    (q, s, d, so, doff, n, ne, w, ev), 0)                                                          \
  X(cl_int, clEnqueueFillBuffer,                                                                   \
    (cl_command_queue q, cl_mem b, const void *p, size_t ps, size_t o, size_t n, cl_uint ne,       \
     const cl_event *w, cl_event *ev),                                                             \
    (q, b, p, ps, o, n, ne, w, ev), 0)                                                             \
  X(void *, clEnqueueMapBuffer,                                                                    \
    (cl_command_queue q, cl_mem b, cl_bool bl, cl_map_flags f, size_t o, size_t n, cl_uint ne,     \
     const cl_event *w, cl_event *ev, cl_int *e),                                                  \
    (q, b, bl, f, o, n, ne, w, ev, e), bl)                                                         \
  X(cl_int, clEnqueueNDRangeKernel,                                                                \
    (cl_command_queue q, cl_kernel k, cl_uint d, const size_t *o, const size_t *g,                 \
     const size_t *l, cl_uint ne, const cl_event *w, cl_event *ev),                                \
    (q, k, d, o, g, l, ne, w, ev), 0)                                                              \
  X(cl_int, clEnqueueNativeKernel,                                                                 \
    (cl_command_queue q, void(CL_CALLBACK * f)(void *), void *a, size_t n, cl_uint nm,             \
     const cl_mem *m, const void **ml, cl_uint ne, const cl_event *w, cl_event *ev),               \
    (q, f, a, n, nm, m, ml, ne, w, ev), 0)                                                         \
  X(cl_int, clEnqueueReadBuffer,                                                                   \
    (cl_command_queue q, cl_mem b, cl_bool bl, size_t o, size_t n, void *p, cl_uint ne,            \
     const cl_event *w, cl_event *ev),                                                             \
    (q, b, bl, o, n, p, ne, w, ev), bl)                                                            \
  X(cl_int, clEnqueueUnmapMemObject,                                                               \
    (cl_command_queue q, cl_mem b, void *p, cl_uint ne, const cl_event *w, cl_event *ev),          \
    (q, b, p, ne, w, ev), 0)                                                                       \
  X(cl_int, clEnqueueWriteBuffer,                                                                  \
    (cl_command_queue q, cl_mem b, cl_bool bl, size_t o, size_t n, const void *p, cl_uint ne,      \
     const cl_event *w, cl_event *ev),                                                             \
    (q, b, bl, o, n, p, ne, w, ev), bl)                                                            \
  X(cl_int, clFinish, (cl_command_queue q), (q), 1)                                                \
  X(cl_int, clGetCommandQueueInfo,                                                                 \
    (cl_command_queue q, cl_command_queue_info i, size_t n, void *v, size_t *r), (q, i, n, v, r),  \
    0)                                                                                             \
  X(cl_int, clGetDeviceInfo, (cl_device_id d, cl_device_info i, size_t n, void *v, size_t *r),     \
    (d, i, n, v, r), 0)                                                                            \
  X(cl_int, clGetEventProfilingInfo,                                                               \
    (cl_event e, cl_profiling_info i, size_t n, void *v, size_t *r), (e, i, n, v, r), 0)           \
  X(cl_int, clGetKernelInfo, (cl_kernel k, cl_kernel_info i, size_t n, void *v, size_t *r),        \
    (k, i, n, v, r), 0)                                                                            \
  X(cl_int, clGetKernelWorkGroupInfo,                                                              \
    (cl_kernel k, cl_device_id d, cl_kernel_work_group_info i, size_t n, void *v, size_t *r),      \
    (k, d, i, n, v, r), 0)                                                                         \
  X(cl_int, clGetMemObjectInfo, (cl_mem m, cl_mem_info i, size_t n, void *v, size_t *r),           \
    (m, i, n, v, r), 0)                                                                            \
  X(cl_int, clGetProgramBuildInfo,                                                                 \
    (cl_program p, cl_device_id d, cl_program_build_info i, size_t n, void *v, size_t *r),         \
    (p, d, i, n, v, r), 0)                                                                         \
  X(cl_int, clGetProgramInfo, (cl_program p, cl_program_info i, size_t n, void *v, size_t *r),     \
    (p, i, n, v, r), 0)                                                                            \
  X(cl_int, clReleaseEvent, (cl_event e), (e), 0)                                                  \
  X(cl_int, clReleaseKernel, (cl_kernel k), (k), 0)                                                \
  X(cl_int, clReleaseMemObject, (cl_mem m), (m), 0)                                                \
  X(cl_int, clReleaseProgram, (cl_program p), (p), 0)                                              \
  X(cl_int, clSetKernelArg, (cl_kernel k, cl_uint i, size_t n, const void *v), (k, i, n, v), 0)    \
  X(cl_int, clWaitForEvents, (cl_uint n, const cl_event *e), (n, e), 1)

enum {
#define ID(ret, name, params, args, blocking) ID_##name,
  CL_FUNCTIONS(ID)
#undef ID
  NFUNCTIONS
};

/* One row per function. */
typedef struct row {
  const char *name;
  _Atomic uint64_t calls;
  _Atomic uint64_t ns;      /* host time in calls that did not wait */
  _Atomic uint64_t wait_ns; /* host time in calls that waited for the device */
} row;

static row rows[NFUNCTIONS] = {
#define ROW(ret, fn, params, args, blocking) [ID_##fn] = {.name = #fn},
    CL_FUNCTIONS(ROW)
#undef ROW
};

/* What mupc bench reads (src/bench.c looks the name up): row i's name and
 * totals so far; 0 past the last row. */
EXPORT int mupc_clcount_read(int i, const char **name, uint64_t *calls, uint64_t *ns,
                             uint64_t *wait_ns) {
  if (i < 0 || i >= NFUNCTIONS) return 0;
  *name = rows[i].name;
  *calls = atomic_load(&rows[i].calls);
  *ns = atomic_load(&rows[i].ns);
  *wait_ns = atomic_load(&rows[i].wait_ns);
  return 1;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The driver's function: the next definition of the name after ours. */
static void *real(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f) {
    fprintf(stderr, "clcount: no OpenCL function %s after this library\n", name);
    abort();
  }
  return f;
}

#define WRAP(ret, name, params, args, blocking)                                                    \
  EXPORT CL_API_ENTRY ret CL_API_CALL name params {                                               \
    static ret(CL_API_CALL * next) params;                                                         \
    if (!next) next = (ret(CL_API_CALL *) params)real(#name);                                      \
    const uint64_t t0__ = now_ns();                                                                \
    ret r__ = next args;                                                                           \
    const uint64_t dt__ = now_ns() - t0__;                                                         \
    atomic_fetch_add(&rows[ID_##name].calls, 1);                                                   \
    atomic_fetch_add((blocking) ? &rows[ID_##name].wait_ns : &rows[ID_##name].ns, dt__);           \
    return r__;                                                                                    \
  }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic" /* a data pointer from dlsym as a function's */
CL_FUNCTIONS(WRAP)
#pragma GCC diagnostic pop
#undef WRAP
