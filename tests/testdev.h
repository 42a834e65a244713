/* Which OpenCL implementations the device tests run on. */
#ifndef MUPC_TESTDEV_H
#define MUPC_TESTDEV_H

/* Fills specs with the device SPECs of the implementations present, from
 * MUPC_TEST_DEVICES (comma-separated SPECs; default "pocl,llvmpipe"), and
 * returns how many. If MUPC_REQUIRE_DEVICES
 * (comma-separated, e.g. "pocl,llvmpipe") names one that is missing, it
 * prints which and returns -1: a CI run must never pass by skipping. */
int testdev_specs(const char *specs[], int max);

#endif
