/* Which OpenCL implementations the device tests run on. */
#ifndef MUPC_TESTDEV_H
#define MUPC_TESTDEV_H

/* Fills specs with the device SPECs of the implementations present, from
 * MUPC_TEST_DEVICES (comma-separated SPECs; default "pocl,llvmpipe"), and
 * returns how many. If MUPC_REQUIRE_DEVICES
 * (comma-separated, e.g. "pocl,llvmpipe") names one that is missing, it
 * prints which and returns -1: a CI run must never pass by skipping. */
int testdev_specs(const char *specs[], int max);

#include <stddef.h>

/* max|a − b| / max|b| over n values: how far two devices', or two runs',
 * tensors are apart, relative to the tensor's scale. */
double testdev_rel_diff(const float *a, const float *b, size_t n);

#endif
