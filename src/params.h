/* The parameter table's internals that the checkpoint code shares
 * (params.c). Not installed. */
#ifndef MUPC_PARAMS_H
#define MUPC_PARAMS_H

#include "mupc.h"

#include <stddef.h>
#include <stdint.h>

/* Parses text into row's field of obj (a mupc_net_params or a
 * mupc_train_opts, as row->scope says). With check_range 0 only the type is
 * checked (an integer, a finite number, a known name), not the row's range:
 * checkpoints are validated by mupc_net_params_check, whose limits are the
 * library's, not the CLI's. obj is written only on success; on failure
 * returns MUPC_EINVAL and leaves "expected ..., got '...'" in why. */
int mupc__param_parse(const mupc_param_info *row, void *obj, const char *text, int check_range,
                      char *why, size_t nwhy);

/* row's field of obj as text, the shortest that parses back to the same
 * value. MUPC_EINVAL (naming the row) if it does not fit in n bytes or the
 * field holds no valid value. */
int mupc__param_format(const mupc_param_info *row, const void *obj, char *dst, size_t n);

/* Room for any row's text but a path: a NORM of 2·MUPC_NORM_MAX numbers. */
#define MUPC__PARAM_TEXT_MAX (2 * MUPC_NORM_MAX * 16)

#endif
