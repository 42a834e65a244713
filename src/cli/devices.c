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

enum {
  COL_DEFAULT,
  COL_INDEX,
  COL_PLATFORM,
  COL_DEVICE,
  COL_TYPE,
  COL_VENDOR,
  COL_CU,
  COL_MEM,
  COL_WG,
  COL_CLC,
  COL_DRIVER,
  NCOLS
};

static const struct {
  const char *title;
  int right; /* numbers align right */
} columns[NCOLS] = {
    {"", 0},   {"P:D", 0},    {"PLATFORM", 0}, {"DEVICE", 0},   {"TYPE", 0},   {"VENDOR", 0},
    {"CU", 1}, {"MEMORY", 1}, {"MAX WG", 1},   {"OPENCL C", 0}, {"DRIVER", 0},
};

typedef struct row {
  char cell[NCOLS][160];
} row;

static void fill_row(const mupc_device_info *d, row *r) {
  snprintf(r->cell[COL_DEFAULT], sizeof r->cell[0], "%s", d->is_default ? "*" : "");
  snprintf(r->cell[COL_INDEX], sizeof r->cell[0], "%d:%d", d->platform_index, d->device_index);
  snprintf(r->cell[COL_PLATFORM], sizeof r->cell[0], "%s", d->platform);
  snprintf(r->cell[COL_DEVICE], sizeof r->cell[0], "%s", d->name);
  snprintf(r->cell[COL_TYPE], sizeof r->cell[0], "%s", d->type);
  snprintf(r->cell[COL_VENDOR], sizeof r->cell[0], "%s", d->vendor);
  snprintf(r->cell[COL_CU], sizeof r->cell[0], "%u", d->compute_units);
  cli_format_bytes(d->global_mem_bytes, r->cell[COL_MEM], sizeof r->cell[0]);
  snprintf(r->cell[COL_WG], sizeof r->cell[0], "%zu", d->max_work_group_size);
  snprintf(r->cell[COL_CLC], sizeof r->cell[0], "%s", d->opencl_c_version);
  snprintf(r->cell[COL_DRIVER], sizeof r->cell[0], "%s", d->driver_version);
  /* An empty cell would shift the eye to the next column. */
  for (int c = COL_PLATFORM; c < NCOLS; c++)
    if (!r->cell[c][0]) snprintf(r->cell[c], sizeof r->cell[0], "-");
}

static void print_line(const char *const cells[NCOLS], const size_t width[NCOLS]) {
  for (int c = 0; c < NCOLS; c++) {
    const char *sep = c ? "  " : "";
    /* No padding after the last column: no trailing blanks. */
    if (c == NCOLS - 1)
      printf("%s%s\n", sep, cells[c]);
    else if (columns[c].right)
      printf("%s%*s", sep, (int)width[c], cells[c]);
    else
      printf("%s%-*s", sep, (int)width[c], cells[c]);
  }
}

static int print_table(const mupc_device_info *devs, size_t n, int footnote) {
  row *rows = malloc(n * sizeof *rows);
  if (!rows) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  size_t width[NCOLS];
  for (int c = 0; c < NCOLS; c++)
    width[c] = strlen(columns[c].title);
  width[COL_DEFAULT] = 1; /* rows line up whether or not the default is among them */
  for (size_t i = 0; i < n; i++) {
    fill_row(&devs[i], &rows[i]);
    for (int c = 0; c < NCOLS; c++) {
      size_t w = strlen(rows[i].cell[c]);
      if (w > width[c]) width[c] = w;
    }
  }
  const char *cells[NCOLS];
  for (int c = 0; c < NCOLS; c++)
    cells[c] = columns[c].title;
  print_line(cells, width);
  for (size_t i = 0; i < n; i++) {
    for (int c = 0; c < NCOLS; c++)
      cells[c] = rows[i].cell[c];
    print_line(cells, width);
  }
  if (footnote) printf("\n* default: used when neither --device nor MUPC_DEVICE is given\n");
  free(rows);
  return CLI_EXIT_OK;
}

/* json-c returns NULL when out of memory; one check per object instead of
 * one per call. */
static int add(json_object *obj, const char *key, json_object *val) {
  if (!val) return -1;
  if (json_object_object_add(obj, key, val)) {
    json_object_put(val);
    return -1;
  }
  return 0;
}

static json_object *device_json(const mupc_device_info *d) {
  json_object *o = json_object_new_object();
  if (!o) return NULL;
  char index[32];
  snprintf(index, sizeof index, "%d:%d", d->platform_index, d->device_index);
  int bad = add(o, "index", json_object_new_string(index));
  bad |= add(o, "platform", json_object_new_string(d->platform));
  bad |= add(o, "device", json_object_new_string(d->name));
  bad |= add(o, "type", json_object_new_string(d->type));
  bad |= add(o, "vendor", json_object_new_string(d->vendor));
  bad |= add(o, "compute_units", json_object_new_int64(d->compute_units));
  bad |= add(o, "global_mem_bytes", json_object_new_int64((int64_t)d->global_mem_bytes));
  bad |= add(o, "max_work_group_size", json_object_new_int64((int64_t)d->max_work_group_size));
  bad |= add(o, "opencl_c_version", json_object_new_string(d->opencl_c_version));
  bad |= add(o, "driver_version", json_object_new_string(d->driver_version));
  bad |= add(o, "default", json_object_new_boolean(d->is_default));
  if (!bad) return o;
  json_object_put(o);
  return NULL;
}

static int print_json(const mupc_device_info *devs, size_t n) {
  const char *text = NULL;
  json_object *arr = json_object_new_array();
  if (!arr) goto ERROR;
  for (size_t i = 0; i < n; i++) {
    json_object *o = device_json(&devs[i]);
    if (!o) goto ERROR;
    if (json_object_array_add(arr, o)) {
      json_object_put(o);
      goto ERROR;
    }
  }
  /* Keep "Mesa/X.org" readable: json-c escapes '/' unless told not to. */
  text = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!text) goto ERROR;
  printf("%s\n", text);
  json_object_put(arr);
  return CLI_EXIT_OK;
ERROR:
  json_object_put(arr);
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
    case 'd':
      spec = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 'h':
      help();
      return CLI_EXIT_OK;
    default:
      return cli_bad_flag(CMD, argc, argv, options);
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
