/* One device per rank: under mpirun each rank of a machine takes a
 * different device among those a SPEC matches. */
#ifndef MUPC_CLI_DEVPICK_H
#define MUPC_CLI_DEVPICK_H

#include <stddef.h>

/* The spec ("P:D") of device number `index` (modulo their count) among the
 * devices `spec` matches, into out. Matching, on mupc_device_list():
 * "P:D" is that one device; "cpu" / "gpu" every device of that type; any
 * other text every device whose platform or device name contains it,
 * ignoring case; no spec: MUPC_DEVICE, else every GPU, else every device.
 * When nothing matches here (e.g. a platform-vendor name, which the list
 * does not show), out is spec itself and mupc_ctx_init decides, so every
 * rank shares that one device. */
void devpick_spec(const char *spec, int index, char *out, size_t n);

#endif
