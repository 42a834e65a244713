/* mupc devices [--json] [--device SPEC]: every OpenCL device, or the one a
 * SPEC selects, as a table or JSON. */
#include "cli.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "devices"

static void help(void) {
  fputs("usage: mupc devices [--json] [--device SPEC]\n\n"
        "Lists every OpenCL device of every platform, numbered P:D as 'clinfo -l'\n"
        "numbers them. * marks the default: the first GPU, else the first CPU, else\n"
        "the first device. With --device SPEC, or MUPC_DEVICE set, prints only the\n"
        "device that SPEC selects.\n\n"
        "  --device SPEC  P:D, cpu, gpu, or a case-insensitive part of the platform\n"
        "                 name, platform vendor or device name (pocl, rusticl,\n"
        "                 llvmpipe, nvidia)\n"
        "  --json         a JSON array of objects instead of the table\n"
        "  -h, --help     this text\n\n"
        "Mesa's rusticl shows its llvmpipe CPU device only with RUSTICL_ENABLE=llvmpipe.\n",
        stdout);
}

/* The table's columns: title, and whether numbers align right. */
enum { NCOLS = 11, CELL = 160 };
static const struct {
  const char *title;
  int right;
} columns[NCOLS] = {
    {"", 0},   {"P:D", 0},    {"PLATFORM", 0}, {"DEVICE", 0},   {"TYPE", 0},   {"VENDOR", 0},
    {"CU", 1}, {"MEMORY", 1}, {"MAX WG", 1},   {"OPENCL C", 0}, {"DRIVER", 0},
};

typedef struct row {
  char cell[NCOLS][CELL];
} row;

static void fill_row(const mupc_device_info *d, row *r) {
  snprintf(r->cell[0], CELL, "%s", d->is_default ? "*" : "");
  snprintf(r->cell[1], CELL, "%d:%d", d->platform_index, d->device_index);
  const char *text[] = {d->platform, d->name, d->type, d->vendor};
  for (int c = 2; c < 6; c++) snprintf(r->cell[c], CELL, "%s", text[c - 2]);
  snprintf(r->cell[6], CELL, "%u", d->compute_units);
  cli_format_bytes(d->global_mem_bytes, r->cell[7], CELL);
  snprintf(r->cell[8], CELL, "%zu", d->max_work_group_size);
  snprintf(r->cell[9], CELL, "%s", d->opencl_c_version);
  snprintf(r->cell[10], CELL, "%s", d->driver_version);
  /* An empty cell would shift the eye to the next column. */
  for (int c = 2; c < NCOLS; c++)
    if (!r->cell[c][0]) snprintf(r->cell[c], CELL, "-");
}

/* Row -1 is the titles. No padding after the last column: no trailing blanks. */
static void print_line(const row *rows, int i, const size_t width[NCOLS]) {
  for (int c = 0; c < NCOLS; c++) {
    const char *cell = i < 0 ? columns[c].title : rows[i].cell[c];
    const int w = c == NCOLS - 1 ? 0 : (int)width[c];
    printf(columns[c].right ? "%s%*s" : "%s%-*s", c ? "  " : "", w, cell);
  }
  putchar('\n');
}

static int print_table(const mupc_device_info *devs, size_t n, int footnote) {
  row *rows = malloc(n * sizeof *rows);
  if (!rows) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  size_t width[NCOLS];
  for (int c = 0; c < NCOLS; c++) width[c] = strlen(columns[c].title);
  width[0] = 1; /* rows line up whether or not the default is among them */
  for (size_t i = 0; i < n; i++) {
    fill_row(&devs[i], &rows[i]);
    for (int c = 0; c < NCOLS; c++)
      if (strlen(rows[i].cell[c]) > width[c]) width[c] = strlen(rows[i].cell[c]);
  }
  for (int i = -1; i < (int)n; i++) print_line(rows, i, width);
  if (footnote) printf("\n* default: used when neither --device nor MUPC_DEVICE is given\n");
  free(rows);
  return CLI_EXIT_OK;
}

static json_object *device_json(const mupc_device_info *d) {
  json_object *o = json_object_new_object();
  char index[32];
  snprintf(index, sizeof index, "%d:%d", d->platform_index, d->device_index);
  const char *const keys[] = {"index", "platform", "device", "type", "vendor"};
  const char *const text[] = {index, d->platform, d->name, d->type, d->vendor};
  for (int i = 0; i < 5; i++) json_object_object_add(o, keys[i], json_object_new_string(text[i]));
  json_object_object_add(o, "compute_units", json_object_new_int64(d->compute_units));
  json_object_object_add(o, "global_mem_bytes",
                         json_object_new_int64((int64_t)d->global_mem_bytes));
  json_object_object_add(o, "max_work_group_size",
                         json_object_new_int64((int64_t)d->max_work_group_size));
  json_object_object_add(o, "opencl_c_version", json_object_new_string(d->opencl_c_version));
  json_object_object_add(o, "driver_version", json_object_new_string(d->driver_version));
  json_object_object_add(o, "default", json_object_new_boolean(d->is_default));
  return o;
}

static int print_json(const mupc_device_info *devs, size_t n) {
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < n; i++) json_object_array_add(arr, device_json(&devs[i]));
  /* Keep "Mesa/X.org" readable: json-c escapes '/' unless told not to. */
  const char *text = json_object_to_json_string_ext(
      arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (text) printf("%s\n", text);
  json_object_put(arr);
  if (text) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, CMD, "out of memory building the JSON output");
}

int cli_devices(int argc, char **argv) {
  static const struct option options[] = {
      {"device", required_argument, NULL, 'd'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *spec = NULL;
  int json = 0;
  for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
    switch (c) {
    case 'd': spec = optarg; break;
    case 'j': json = 1; break;
    case 'h': help(); return CLI_EXIT_OK;
    default: return cli_bad_flag(CMD, argc, argv, options);
    }
  }
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s' (see 'mupc devices --help')",
                     argv[optind]);

  const char *env = getenv("MUPC_DEVICE");
  int one = spec || (env && *env);
  mupc_device_info selected, *devs = &selected;
  size_t n = 1;
  int rc = one ? mupc_device_select(spec, &selected) : mupc_device_list(&devs, &n);
  if (rc) return cli_report(CMD, rc, NULL);
  int code = json ? print_json(devs, n) : print_table(devs, n, !one);
  if (!one) free(devs);
  return code;
}
