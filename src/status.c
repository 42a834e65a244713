/* Status codes: mupc's own from MUPC_STATUS_MAP, OpenCL's and CLBlast's by
 * their numeric values, and the per-thread detail message. The bottom of
 * the library: every file calls it, it calls none. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#define MUPC__CL_ERRORS(X)                                                     \
  X(-1, CL_DEVICE_NOT_FOUND) X(-2, CL_DEVICE_NOT_AVAILABLE)                    \
  X(-3, CL_COMPILER_NOT_AVAILABLE) X(-4, CL_MEM_OBJECT_ALLOCATION_FAILURE)     \
  X(-5, CL_OUT_OF_RESOURCES) X(-6, CL_OUT_OF_HOST_MEMORY)                      \
  X(-7, CL_PROFILING_INFO_NOT_AVAILABLE) X(-8, CL_MEM_COPY_OVERLAP)            \
  X(-9, CL_IMAGE_FORMAT_MISMATCH) X(-10, CL_IMAGE_FORMAT_NOT_SUPPORTED)        \
  X(-11, CL_BUILD_PROGRAM_FAILURE) X(-12, CL_MAP_FAILURE)                      \
  X(-13, CL_MISALIGNED_SUB_BUFFER_OFFSET)                                      \
  X(-14, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)                         \
  X(-15, CL_COMPILE_PROGRAM_FAILURE) X(-16, CL_LINKER_NOT_AVAILABLE)           \
  X(-17, CL_LINK_PROGRAM_FAILURE) X(-18, CL_DEVICE_PARTITION_FAILED)           \
  X(-19, CL_KERNEL_ARG_INFO_NOT_AVAILABLE) X(-30, CL_INVALID_VALUE)            \
  X(-31, CL_INVALID_DEVICE_TYPE) X(-32, CL_INVALID_PLATFORM)                   \
  X(-33, CL_INVALID_DEVICE) X(-34, CL_INVALID_CONTEXT)                         \
  X(-35, CL_INVALID_QUEUE_PROPERTIES) X(-36, CL_INVALID_COMMAND_QUEUE)         \
  X(-37, CL_INVALID_HOST_PTR) X(-38, CL_INVALID_MEM_OBJECT)                    \
  X(-39, CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) X(-40, CL_INVALID_IMAGE_SIZE)     \
  X(-41, CL_INVALID_SAMPLER) X(-42, CL_INVALID_BINARY)                         \
  X(-43, CL_INVALID_BUILD_OPTIONS) X(-44, CL_INVALID_PROGRAM)                  \
  X(-45, CL_INVALID_PROGRAM_EXECUTABLE) X(-46, CL_INVALID_KERNEL_NAME)         \
  X(-47, CL_INVALID_KERNEL_DEFINITION) X(-48, CL_INVALID_KERNEL)               \
  X(-49, CL_INVALID_ARG_INDEX) X(-50, CL_INVALID_ARG_VALUE)                    \
  X(-51, CL_INVALID_ARG_SIZE) X(-52, CL_INVALID_KERNEL_ARGS)                   \
  X(-53, CL_INVALID_WORK_DIMENSION) X(-54, CL_INVALID_WORK_GROUP_SIZE)         \
  X(-55, CL_INVALID_WORK_ITEM_SIZE) X(-56, CL_INVALID_GLOBAL_OFFSET)           \
  X(-57, CL_INVALID_EVENT_WAIT_LIST) X(-58, CL_INVALID_EVENT)                  \
  X(-59, CL_INVALID_OPERATION) X(-60, CL_INVALID_GL_OBJECT)                    \
  X(-61, CL_INVALID_BUFFER_SIZE) X(-62, CL_INVALID_MIP_LEVEL)                  \
  X(-63, CL_INVALID_GLOBAL_WORK_SIZE) X(-64, CL_INVALID_PROPERTY)              \
  X(-65, CL_INVALID_IMAGE_DESCRIPTOR) X(-66, CL_INVALID_COMPILER_OPTIONS)      \
  X(-67, CL_INVALID_LINKER_OPTIONS) X(-68, CL_INVALID_DEVICE_PARTITION_COUNT)  \
  X(-1001, CL_PLATFORM_NOT_FOUND_KHR)                                          \
  X(-1024, CLBlastNotImplemented) X(-1022, CLBlastInvalidMatrixA)              \
  X(-1021, CLBlastInvalidMatrixB) X(-1020, CLBlastInvalidMatrixC)              \
  X(-1019, CLBlastInvalidVectorX) X(-1018, CLBlastInvalidVectorY)              \
  X(-1017, CLBlastInvalidDimension) X(-1016, CLBlastInvalidLeadDimA)           \
  X(-1015, CLBlastInvalidLeadDimB) X(-1014, CLBlastInvalidLeadDimC)            \
  X(-1013, CLBlastInvalidIncrementX) X(-1012, CLBlastInvalidIncrementY)        \
  X(-1011, CLBlastInsufficientMemoryA) X(-1010, CLBlastInsufficientMemoryB)    \
  X(-1009, CLBlastInsufficientMemoryC) X(-1008, CLBlastInsufficientMemoryX)    \
  X(-1007, CLBlastInsufficientMemoryY)                                         \
  X(-2050, CLBlastInsufficientMemoryTemp) X(-2049, CLBlastInvalidBatchCount)   \
  X(-2048, CLBlastInvalidOverrideKernel)                                       \
  X(-2047, CLBlastMissingOverrideParameter)                                    \
  X(-2046, CLBlastInvalidLocalMemUsage) X(-2045, CLBlastNoHalfPrecision)       \
  X(-2044, CLBlastNoDoublePrecision) X(-2043, CLBlastInvalidVectorScalar)      \
  X(-2042, CLBlastInsufficientMemoryScalar) X(-2041, CLBlastDatabaseError)     \
  X(-2040, CLBlastUnknownError) X(-2039, CLBlastUnexpectedError)

const char *mupc__cl_error_name(int code) {
  switch (code) {
#define MUPC__CASE(value, name)                                                \
  case value:                                                                  \
    return #name;
    MUPC__CL_ERRORS(MUPC__CASE)
#undef MUPC__CASE
  default:
    return NULL;
  }
}

const char *mupc_strerror(int status) {
  switch (status) {
#define MUPC__CASE(name, value, text)                                          \
  case value:                                                                  \
    return text;
    MUPC_STATUS_MAP(MUPC__CASE)
#undef MUPC__CASE
  default:
    break;
  }
  const char *cl = mupc__cl_error_name(status);
  return cl ? cl : "unknown status";
}

static _Thread_local char errmsg[1024];

const char *mupc_errmsg(void) { return errmsg; }

void mupc__clear_errmsg(void) { errmsg[0] = '\0'; }

int mupc__fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg, sizeof errmsg, fmt, ap);
  va_end(ap);
  return status;
}

void mupc__lower(char *dst, const char *s, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) dst[i] = (char)tolower((unsigned char)s[i]);
  dst[i] = '\0';
}

int mupc__room(void **items, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return MUPC_OK;
  const size_t more = *cap ? 2 * *cap : 32;
  void *grown = realloc(*items, more * size);
  if (!grown) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  *items = grown;
  *cap = more;
  return MUPC_OK;
}
