/* Writes mupc/_abi.py: the layout of the structs of mupc.h that the Python
 * package reads or fills, and the header's constants, as the compiler sees
 * them. The package builds its ctypes structures from this file alone, so a
 * field renamed, retyped or moved in mupc.h changes the binding at the next
 * build (or fails this compile) instead of silently misreading memory.
 *
 *   abi OUTPUT.py
 *
 * Structs the package only passes around (mupc_net_params, mupc_train_opts,
 * mupc_checkpoint) are opaque to it: it needs their size and alignment, and
 * reaches their fields through the library's by-name table. */
#include "mupc.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

/* The C type of an expression, as the package's ctypes map names it.
 * Arrays decay to pointers here; FIELD_ARRAY passes an element instead. */
#define CTYPE(x)                                                                                \
  _Generic((x),                                                                                 \
      int: "int",                                                                               \
      unsigned: "unsigned",                                                                     \
      long: "long",                                                                             \
      unsigned long: "unsigned long",                                                           \
      long long: "long long",                                                                   \
      unsigned long long: "unsigned long long",                                                 \
      float: "float",                                                                           \
      double: "double",                                                                         \
      char: "char",                                                                             \
      float *: "float *",                                                                       \
      int *: "int *",                                                                           \
      unsigned char *: "unsigned char *",                                                       \
      const char *: "const char *",                                                             \
      char *: "char *",                                                                         \
      default: "?")

static FILE *out;

static void struct_begin(const char *name, size_t size, size_t align) {
  fprintf(out, "    '%s': (%zu, %zu, [\n", name, size, align);
}

static void struct_end(void) { fputs("    ]),\n", out); }

/* ('name', 'ctype', count (0: a scalar), offset, size) */
static void field(const char *name, const char *ctype, size_t count, size_t offset, size_t size) {
  fprintf(out, "        ('%s', '%s', %zu, %zu, %zu),\n", name, ctype, count, offset, size);
}

#define BEGIN(S) struct_begin(#S, sizeof(S), alignof(S))
#define MEMBER(S, f) (((S *)0)->f)
#define FIELD(S, f) field(#f, CTYPE(MEMBER(S, f)), 0, offsetof(S, f), sizeof MEMBER(S, f))
#define FIELD_ARRAY(S, f)                                                                      \
  field(#f, CTYPE(MEMBER(S, f)[0]), sizeof MEMBER(S, f) / sizeof MEMBER(S, f)[0],              \
        offsetof(S, f), sizeof MEMBER(S, f))

static void structs(void) {
  fputs("STRUCTS = {\n", out);
  BEGIN(mupc_device_info);
  FIELD(mupc_device_info, platform_index);
  FIELD(mupc_device_info, device_index);
  FIELD_ARRAY(mupc_device_info, platform);
  FIELD_ARRAY(mupc_device_info, name);
  FIELD_ARRAY(mupc_device_info, vendor);
  FIELD_ARRAY(mupc_device_info, type);
  FIELD(mupc_device_info, compute_units);
  FIELD(mupc_device_info, global_mem_bytes);
  FIELD(mupc_device_info, max_alloc_bytes);
  FIELD(mupc_device_info, max_work_group_size);
  FIELD_ARRAY(mupc_device_info, opencl_c_version);
  FIELD_ARRAY(mupc_device_info, driver_version);
  FIELD(mupc_device_info, is_default);
  struct_end();

  BEGIN(mupc_step_stats);
  FIELD(mupc_step_stats, train_loss);
  FIELD(mupc_step_stats, energy);
  struct_end();

  BEGIN(mupc_dataset);
  FIELD(mupc_dataset, count);
  FIELD(mupc_dataset, dim);
  FIELD(mupc_dataset, rows);
  FIELD(mupc_dataset, cols);
  FIELD(mupc_dataset, classes);
  FIELD(mupc_dataset, x);
  FIELD(mupc_dataset, labels);
  struct_end();

  BEGIN(mupc_eval_result);
  FIELD(mupc_eval_result, acc);
  FIELD(mupc_eval_result, loss);
  FIELD(mupc_eval_result, count);
  struct_end();

  BEGIN(mupc_train_metrics);
  FIELD(mupc_train_metrics, step);
  FIELD(mupc_train_metrics, epoch);
  FIELD(mupc_train_metrics, train_loss);
  FIELD(mupc_train_metrics, energy);
  FIELD(mupc_train_metrics, evaluated);
  FIELD(mupc_train_metrics, test_acc);
  FIELD(mupc_train_metrics, test_loss);
  struct_end();

  BEGIN(mupc_param_info);
  FIELD(mupc_param_info, name);
  FIELD(mupc_param_info, key);
  FIELD(mupc_param_info, scope);
  FIELD(mupc_param_info, type);
  FIELD(mupc_param_info, metavar);
  FIELD(mupc_param_info, def);
  FIELD(mupc_param_info, allowed);
  FIELD(mupc_param_info, help);
  FIELD(mupc_param_info, absent);
  FIELD(mupc_param_info, flags);
  struct_end();

  /* Opaque: no fields, only where the package reaches inside. */
  BEGIN(mupc_net_params);
  struct_end();
  BEGIN(mupc_train_opts);
  struct_end();
  BEGIN(mupc_data_opts);
  struct_end();
  BEGIN(mupc_checkpoint);
  struct_end();
  fputs("}\n\n", out);

  fputs("OFFSETS = {\n", out);
  fprintf(out, "    'mupc_train_opts.data': %zu,\n", offsetof(mupc_train_opts, data));
  fprintf(out, "    'mupc_checkpoint.p': %zu,\n", offsetof(mupc_checkpoint, p));
  fputs("}\n\n", out);
}

static void constants(void) {
  fputs("# mupc_status: name -> value (MUPC_STATUS_MAP)\nSTATUS = {\n", out);
#define MUPC__PY_STATUS(name, value, text) fprintf(out, "    '%s': %d,\n", #name, value);
  MUPC_STATUS_MAP(MUPC__PY_STATUS)
#undef MUPC__PY_STATUS
  fputs("}\n\n", out);

  fputs("CONSTANTS = {\n", out);
#define C(name) fprintf(out, "    '%s': %lld,\n", #name, (long long)(name))
  C(MUPC_T_WEIGHT);
  C(MUPC_T_WEIGHT_GRAD);
  C(MUPC_T_ADAM_M);
  C(MUPC_T_ADAM_V);
  C(MUPC_T_ACTIVITY);
  C(MUPC_T_ACTIVITY_GRAD);
  C(MUPC_T_ERROR);
  C(MUPC_PTYPE_INT);
  C(MUPC_PTYPE_I64);
  C(MUPC_PTYPE_U64);
  C(MUPC_PTYPE_FLOAT);
  C(MUPC_PTYPE_BOOL);
  C(MUPC_PTYPE_ENUM);
  C(MUPC_PTYPE_STRING);
  C(MUPC_PTYPE_NORM);
  C(MUPC_PSCOPE_NET);
  C(MUPC_PSCOPE_TRAIN);
  C(MUPC_PFLAG_FROM_DATA);
  C(MUPC_PFLAG_INTERNAL);
  C(MUPC_PATH_MAX);
  C(MUPC_METRICS_JSON_MAX);
#undef C
  fputs("}\n\n", out);
  fprintf(out, "VERSION = '%s'\n", MUPC_VERSION);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fputs("usage: abi OUTPUT.py\n", stderr);
    return 2;
  }
  out = fopen(argv[1], "w");
  if (!out) {
    perror(argv[1]);
    return 1;
  }
  fputs("# Generated at build time by python/abi.c from include/mupc.h: do not edit.\n"
        "# STRUCTS: name -> (size, alignment, [(field, C type, array length or 0,\n"
        "# offset, size)]).\n\n",
        out);
  structs();
  constants();
  if (fclose(out) != 0) {
    perror(argv[1]);
    return 1;
  }
  return 0;
}
