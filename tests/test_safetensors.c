/* safetensors checkpoints: round trips, the exact byte layout, atomic
 * replacement, and every way the reader must refuse a file; and the one
 * atomic file replace (src/atomic.c) that checkpoints and the tuning cache
 * are both written through.
 *
 * Every test writes into a private temporary directory. A refused file must
 * give the exact status, name the file in mupc_errmsg() and leave the
 * output untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h" /* mupc__st_read, mupc__atomic_* */
#include "mupc.h"

static char tmpdir[256];

static const char *in_tmp(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[768];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      chmod(p, 0755);
      remove_tree(p);
    } else {
      unlink(p);
    }
  }
  closedir(d);
  rmdir(dir);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/mupc_st_XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  remove_tree(tmpdir);
  return 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n ? *n : 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, *n, f), *n);
  fclose(f);
  return p;
}

static void write_raw(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* A safetensors file by hand: 8-byte little-endian length `hlen` (the
 * header's own length when hlen is UINT64_MAX), the header text, then
 * data_len bytes. */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t data_len) {
  size_t n = strlen(header);
  if (hlen == UINT64_MAX) hlen = n;
  unsigned char *buf = calloc(8 + n + data_len, 1);
  assert_non_null(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + 8, header, n);
  for (size_t i = 0; i < data_len; i++)
    buf[8 + n + i] = (unsigned char)i;
  write_raw(path, buf, 8 + n + data_len);
  free(buf);
}

/* Files in tmpdir whose name contains ".tmp." (leftover temporaries). */
static int count_temporaries(void) {
  DIR *d = opendir(tmpdir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  return n;
}

/* A read that must fail with `status`, name the file and contain `needle`,
 * leaving *out untouched. */
static void expect_read_fail(const char *path, int status, const char *needle) {
  mupc_st_file f, before;
  memset(&f, 0xA5, sizeof f);
  before = f;
  int got = mupc_st_read(path, &f);
  if (got != status || !strstr(mupc_errmsg(), path) || (needle && !strstr(mupc_errmsg(), needle))) {
    print_error("%s: expected status %d with \"%s\", got %d: %s\n", path, status,
                needle ? needle : "", got, mupc_errmsg());
    fail();
  }
  assert_memory_equal(&f, &before, sizeof f);
}

/* ---- a reference checkpoint ---------------------------------------------- */

static float W[6], B[3], S[1], Q[4];
static const char *META_KEYS[] = {"format", "params", "unicode"};
static const char *META_VALUES[] = {"pt", "{\"width\": 128, \"act\": \"relu\"}",
                                    "\xce\xbcPC/\"q\"\\"};

static mupc_st_tensor tensor(const char *name, int ndim, const int64_t *shape, float *data) {
  mupc_st_tensor t;
  memset(&t, 0, sizeof t);
  snprintf(t.name, sizeof t.name, "%s", name);
  t.ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t.shape[i] = shape[i];
  t.data = data;
  return t;
}

/* w [2,3], b [3], empty [0,3], s [] (a scalar), q [1,2,1,2] and metadata.
 * The values include -0, infinities, a NaN and a denormal so the round
 * trip is checked bit for bit. */
static void reference(mupc_st_tensor t[5], mupc_st_file *f) {
  const float w[6] = {1.0f, -2.5f, -0.0f, INFINITY, -INFINITY, 1e-40f};
  memcpy(W, w, sizeof w);
  const float b[3] = {NAN, 3.14159274f, -1e30f};
  memcpy(B, b, sizeof b);
  S[0] = 42.0f;
  const float q[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  memcpy(Q, q, sizeof q);
  t[0] = tensor("layers.0.weight", 2, (const int64_t[]){2, 3}, W);
  t[1] = tensor("layers.0/bias", 1, (const int64_t[]){3}, B);
  t[2] = tensor("empty", 2, (const int64_t[]){0, 3}, NULL);
  t[3] = tensor("scalar", 0, NULL, S);
  t[4] = tensor("four", 4, (const int64_t[]){1, 2, 1, 2}, Q);
  memset(f, 0, sizeof *f);
  f->tensors = t;
  f->ntensors = 5;
  f->meta_keys = (char **)META_KEYS;
  f->meta_values = (char **)META_VALUES;
  f->nmeta = 3;
}

static void check_same(const mupc_st_file *a, const mupc_st_file *b) {
  assert_int_equal(a->ntensors, b->ntensors);
  for (size_t i = 0; i < a->ntensors; i++) {
    const mupc_st_tensor *x = &a->tensors[i], *y = &b->tensors[i];
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->ndim, y->ndim);
    size_t n = 1;
    for (int d = 0; d < x->ndim; d++) {
      assert_int_equal(x->shape[d], y->shape[d]);
      n *= (size_t)x->shape[d];
    }
    if (n) assert_memory_equal(x->data, y->data, n * sizeof(float));
  }
  assert_int_equal(a->nmeta, b->nmeta);
  for (size_t i = 0; i < a->nmeta; i++)
    assert_string_equal(mupc_st_meta(b, a->meta_keys[i]), a->meta_values[i]);
}

/* ---- round trips --------------------------------------------------------- */

static void test_round_trip(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f, g;
  reference(t, &f);
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "rt.safetensors"), &f), MUPC_OK);
  assert_int_equal(count_temporaries(), 0);
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  check_same(&f, &g); /* same order as written, too */

  const mupc_st_tensor *e = mupc_st_find(&g, "empty");
  assert_non_null(e);
  assert_int_equal(e->ndim, 2);
  assert_int_equal(e->shape[0], 0);
  assert_int_equal(e->shape[1], 3);
  assert_true(mupc_st_find(&g, "scalar")->ndim == 0);
  assert_true(mupc_st_find(&g, "scalar")->data[0] == 42.0f);
  assert_null(mupc_st_find(&g, "nope"));
  assert_null(mupc_st_find(&g, "layers.0"));
  assert_string_equal(mupc_st_meta(&g, "format"), "pt");
  assert_null(mupc_st_meta(&g, "nope"));
  assert_null(mupc_st_find(NULL, "w"));
  assert_null(mupc_st_meta(NULL, "format"));

  mupc_st_free(&g);
  assert_int_equal(g.ntensors, 0);
  assert_null(g.tensors);
  mupc_st_free(&g); /* idempotent */
  mupc_st_free(NULL);
}

/* Header only: every name, shape, type and metadata value as a full read
 * gives them, no data; a file whose data section is cut short still fails,
 * since the layout is checked against the file's size. */
static void test_read_header_only(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f, g;
  reference(t, &f);
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "header.safetensors"), &f), MUPC_OK);
  assert_int_equal(mupc__st_read(p, MUPC__ST_HEADER_ONLY, &g), MUPC_OK);
  assert_int_equal(g.ntensors, f.ntensors);
  for (size_t i = 0; i < f.ntensors; i++) {
    assert_string_equal(g.tensors[i].name, f.tensors[i].name);
    assert_int_equal(g.tensors[i].ndim, f.tensors[i].ndim);
    for (int d = 0; d < f.tensors[i].ndim; d++)
      assert_int_equal(g.tensors[i].shape[d], f.tensors[i].shape[d]);
    assert_string_equal(g.tensors[i].dtype, "F32");
    assert_null(g.tensors[i].data);
  }
  assert_string_equal(mupc_st_meta(&g, "format"), "pt");
  mupc_st_free(&g);
  FILE *fp = fopen(p, "rb");
  assert_non_null(fp);
  unsigned char buf[4096];
  const size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  assert_true(n > 4 && n < sizeof buf);
  write_raw(p, (const char *)buf, n - 4);
  assert_int_equal(mupc__st_read(p, MUPC__ST_HEADER_ONLY, &g), MUPC_EFORMAT);
}

static void test_round_trip_empty_and_large(void **state) {
  (void)state;
  char p[512];
  mupc_st_file f, g;
  memset(&f, 0, sizeof f);
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "empty.safetensors"), &f), MUPC_OK);
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  assert_int_equal(g.ntensors, 0);
  assert_int_equal(g.nmeta, 0);
  mupc_st_free(&g);

  /* Bigger than the internal chunk, and an odd size. */
  enum { N = 100003 };
  float *big = malloc(N * sizeof *big);
  assert_non_null(big);
  for (int i = 0; i < N; i++)
    big[i] = (float)i * 0.5f - 7.0f;
  mupc_st_tensor t[2] = {tensor("big", 1, (const int64_t[]){N}, big),
                         tensor("after", 1, (const int64_t[]){1}, big + 5)};
  f.tensors = t;
  f.ntensors = 2;
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "big.safetensors"), &f), MUPC_OK);
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  check_same(&f, &g);
  mupc_st_free(&g);
  free(big);
}

/* The bytes on disk, as Python's safetensors expects them. */
static void test_layout(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f;
  reference(t, &f);
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "layout.safetensors"), &f), MUPC_OK);
  size_t n = 0;
  unsigned char *b = slurp(p, &n);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = hlen << 8 | b[i];
  assert_int_equal(hlen % 8, 0);
  const size_t data = 6 * 4 + 3 * 4 + 0 + 4 + 4 * 4;
  assert_int_equal(n, 8 + hlen + data);
  assert_int_equal(b[8], '{');

  /* The JSON, then only spaces. */
  char *h = malloc(hlen + 1);
  assert_non_null(h);
  memcpy(h, b + 8, hlen);
  h[hlen] = '\0';
  char *close = strrchr(h, '}');
  assert_non_null(close);
  for (char *c = close + 1; *c; c++)
    assert_int_equal(*c, ' ');
  assert_null(strchr(h, '\n'));
  assert_null(strstr(h, "\\/")); /* names keep their slashes */

  json_object *root = json_tokener_parse(h);
  assert_non_null(root);
  assert_int_equal(json_object_object_length(root), 6);
  const char *names[5] = {"layers.0.weight", "layers.0/bias", "empty", "scalar", "four"};
  const int64_t offsets[5][2] = {{0, 24}, {24, 36}, {36, 36}, {36, 40}, {40, 56}};
  for (int i = 0; i < 5; i++) {
    json_object *e, *v;
    assert_true(json_object_object_get_ex(root, names[i], &e));
    assert_true(json_object_object_get_ex(e, "dtype", &v));
    assert_string_equal(json_object_get_string(v), "F32");
    assert_true(json_object_object_get_ex(e, "shape", &v));
    assert_int_equal(json_object_array_length(v), (size_t)t[i].ndim);
    for (int d = 0; d < t[i].ndim; d++)
      assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, (size_t)d)),
                       t[i].shape[d]);
    assert_true(json_object_object_get_ex(e, "data_offsets", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 0)), offsets[i][0]);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(v, 1)), offsets[i][1]);
  }
  json_object *meta, *v;
  assert_true(json_object_object_get_ex(root, "__metadata__", &meta));
  assert_true(json_object_object_get_ex(meta, "unicode", &v));
  assert_string_equal(json_object_get_string(v), META_VALUES[2]);
  json_object_put(root);
  free(h);

  /* Little-endian floats: 1.0f is 00 00 80 3f, -2.5f is 00 00 20 c0. */
  const unsigned char *d = b + 8 + hlen;
  const unsigned char want[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
  assert_memory_equal(d, want, 8);
  free(b);
}

/* A valid file not written by mupc: tensors listed out of offset order, an
 * unpadded header with other whitespace, an unknown field. */
static void test_read_foreign(void **state) {
  (void)state;
  char p[512];
  in_tmp(p, sizeof p, "foreign.safetensors");
  write_st(p, UINT64_MAX,
           "\n{ \"b\" : {\"shape\": [1], \"dtype\": \"F32\", \"data_offsets\": [8, 12]},\n"
           "  \"a\": {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":null},\n"
           "  \"z\": {\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,12]},\n"
           "  \"\\u00b5\": {\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[12,16]},\n"
           "  \"__metadata__\": {}}\t\r\n ",
           16);
  mupc_st_file g;
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  assert_int_equal(g.ntensors, 4);
  assert_int_equal(g.nmeta, 0);
  assert_string_equal(g.tensors[0].name, "a");
  assert_string_equal(g.tensors[1].name, "b");
  assert_string_equal(g.tensors[2].name, "z");
  assert_string_equal(g.tensors[3].name, "\xc2\xb5");
  /* write_st fills byte i of the data with i. */
  float want;
  uint32_t u = 8u | 9u << 8 | 10u << 16 | 11u << 24;
  memcpy(&want, &u, 4);
  assert_memory_equal(&g.tensors[1].data[0], &want, 4);
  mupc_st_free(&g);
}

/* ---- writing safely ------------------------------------------------------ */

static void test_overwrite(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f, g;
  reference(t, &f);
  in_tmp(p, sizeof p, "over.safetensors");
  write_raw(p, "old contents", 12);
  assert_int_equal(chmod(p, 0640), 0);
  assert_int_equal(mupc_st_write(p, &f), MUPC_OK);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640); /* the old file's mode is kept */
  f.ntensors = 2;
  assert_int_equal(mupc_st_write(p, &f), MUPC_OK);
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  check_same(&f, &g);
  mupc_st_free(&g);
  assert_int_equal(count_temporaries(), 0);

  /* A new file is created 0644, not mkstemp's 0600. */
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "fresh.safetensors"), &f), MUPC_OK);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
}

/* Writes the reference file at p and checks that a failed write of a
 * different file left it as it was and cleaned up. */
static void check_intact(const char *p, const unsigned char *before, size_t n_before) {
  size_t n = 0;
  unsigned char *now = slurp(p, &n);
  assert_int_equal(n, n_before);
  assert_memory_equal(now, before, n);
  free(now);
  assert_int_equal(count_temporaries(), 0);
  mupc_st_file g;
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  assert_int_equal(g.ntensors, 5);
  mupc_st_free(&g);
}

/* A write that fails half-way (here the file size limit, which also binds
 * root, standing in for a full disk) leaves the old file and no temporary. */
static void test_failed_write_keeps_old_file(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f;
  reference(t, &f);
  assert_int_equal(mupc_st_write(in_tmp(p, sizeof p, "keep.safetensors"), &f), MUPC_OK);
  size_t n_before = 0;
  unsigned char *before = slurp(p, &n_before);

  enum { N = 1 << 16 };
  float *big = calloc(N, sizeof *big);
  assert_non_null(big);
  mupc_st_tensor bt = tensor("big", 1, (const int64_t[]){N}, big);
  mupc_st_file bf = {&bt, 1, NULL, NULL, 0};

  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 4096;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int status = mupc_st_write(p, &bf);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(status, MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), p));
  check_intact(p, before, n_before);

  /* Refused input never touches the file either. */
  bt.shape[0] = -1;
  assert_int_equal(mupc_st_write(p, &bf), MUPC_EINVAL);
  check_intact(p, before, n_before);

  free(big);
  free(before);
}

static void test_write_into_missing_dir(void **state) {
  (void)state;
  char p[512];
  mupc_st_tensor t[5];
  mupc_st_file f;
  reference(t, &f);
  in_tmp(p, sizeof p, "no-such-dir/x.safetensors");
  assert_int_equal(mupc_st_write(p, &f), MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), p));
  assert_int_equal(access(p, F_OK), -1);
}

static void test_write_into_readonly_dir(void **state) {
  (void)state;
  /* Permissions do not bind root; the rlimit test covers that case. */
  if (geteuid() == 0) skip();
  char dir[512], p[768];
  in_tmp(dir, sizeof dir, "ro");
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(p, sizeof p, "%s/x.safetensors", dir);
  mupc_st_tensor t[5];
  mupc_st_file f;
  reference(t, &f);
  assert_int_equal(mupc_st_write(p, &f), MUPC_OK);
  size_t n_before = 0;
  unsigned char *before = slurp(p, &n_before);
  assert_int_equal(chmod(dir, 0555), 0);
  f.ntensors = 1;
  int status = mupc_st_write(p, &f);
  chmod(dir, 0755);
  assert_int_equal(status, MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), p));
  f.ntensors = 5;
  check_intact(p, before, n_before);
  free(before);
}

static void test_write_refuses_bad_input(void **state) {
  (void)state;
  char p[512];
  in_tmp(p, sizeof p, "refused.safetensors");
  float v[2] = {1, 2};
  mupc_st_tensor t[2] = {tensor("a", 1, (const int64_t[]){2}, v),
                         tensor("b", 1, (const int64_t[]){2}, v)};
  mupc_st_file f = {t, 2, NULL, NULL, 0};

  memset(t[0].name, 'x', sizeof t[0].name); /* 128 characters, no terminator */
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "127"));
  memset(t[0].name, 'x', 127);
  t[0].name[127] = '\0'; /* 127 is fine */
  assert_int_equal(mupc_st_write(p, &f), MUPC_OK);
  assert_int_equal(unlink(p), 0);

  strcpy(t[0].name, "b");
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "duplicate tensor name \"b\""));
  strcpy(t[0].name, "");
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  strcpy(t[0].name, "__metadata__");
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  strcpy(t[0].name, "a");
  t[0].ndim = 5;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  t[0].ndim = -1;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  t[0].ndim = 1;
  t[0].shape[0] = -2;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  t[0].shape[0] = 2;
  t[0].data = NULL;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "\"a\""));
  t[0].data = v;

  char *keys[2] = {"k", "k"}, *values[2] = {"1", "2"};
  f.meta_keys = keys;
  f.meta_values = values;
  f.nmeta = 2;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "duplicate metadata key \"k\""));
  keys[1] = "j";
  values[1] = NULL;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  f.meta_values = NULL;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  f.nmeta = 0;
  f.tensors = NULL;
  assert_int_equal(mupc_st_write(p, &f), MUPC_EINVAL);
  assert_int_equal(mupc_st_write(NULL, &f), MUPC_EINVAL);
  assert_int_equal(mupc_st_write(p, NULL), MUPC_EINVAL);
  assert_int_equal(access(p, F_OK), -1);
  assert_int_equal(count_temporaries(), 0);
}

/* ---- refusing broken files ----------------------------------------------- */

static void test_read_short_files(void **state) {
  (void)state;
  char p[512];
  write_raw(in_tmp(p, sizeof p, "empty-file.safetensors"), "", 0);
  expect_read_fail(p, MUPC_EFORMAT, "shorter than the 8-byte");
  write_raw(in_tmp(p, sizeof p, "five.safetensors"), "\x02\0\0\0\0", 5);
  expect_read_fail(p, MUPC_EFORMAT, "shorter than the 8-byte");
  write_st(in_tmp(p, sizeof p, "past-eof.safetensors"), 100, "{}", 0);
  expect_read_fail(p, MUPC_EFORMAT, "runs past the end of the file");
  write_st(in_tmp(p, sizeof p, "absurd.safetensors"), 200000000, "{}", 0);
  expect_read_fail(p, MUPC_EFORMAT, "over the limit");
  write_st(in_tmp(p, sizeof p, "absurd2.safetensors"), UINT64_MAX - 1, "{}", 0);
  expect_read_fail(p, MUPC_EFORMAT, "over the limit");
  write_st(in_tmp(p, sizeof p, "zero-header.safetensors"), 0, "", 0);
  expect_read_fail(p, MUPC_EFORMAT, "empty");
  expect_read_fail(in_tmp(p, sizeof p, "missing.safetensors"), MUPC_EIO, "cannot open");
  expect_read_fail(tmpdir, MUPC_EIO, "not a regular file");

  mupc_st_file g;
  assert_int_equal(mupc_st_read(NULL, &g), MUPC_EINVAL);
  assert_int_equal(mupc_st_read(p, NULL), MUPC_EINVAL);
}

/* A file of another kind (its first 8 bytes read as an absurd header
 * length) is named as not safetensors, with what it looks like; a real
 * header's '{' after a bad length keeps the length's own message. */
static void test_read_other_formats(void **state) {
  (void)state;
  static const struct {
    const char *name;
    const char *bytes;
    size_t n;
    const char *looks;
  } other[] = {
      {"m.st.gz", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10,
       "looks like gzip data (first bytes 1f 8b 08 00 00 00 00 00)"},
      {"m.pt", "PK\x03\x04\x14\x00\x00\x00\x08\x00", 10, "zip archive"},
      {"m.pkl", "\x80\x02}q\x00(X\x01\x00\x00", 10, "Python pickle"},
      {"m.npy", "\x93NUMPY\x01\x00v\x00{'descr'", 18, "NumPy .npy"},
      {"m.h5", "\x89HDF\r\n\x1a\n\x00\x00", 10, "HDF5"},
      {"images", "\x00\x00\x08\x03\x00\x00\x00\x40\x00\x00", 10, "IDX data file"},
      {"m.json", "{\"layers.0.weight\": []}\n", 24, "looks like text (\"{\"layers.0.weigh\")"},
      {"notes.txt", "caf\303\251 au lait, \342\202\2543", 19, "looks like text"},
      {"noise", "\xf1\x93\xdb\x25\xc8\x40\xe5\xc1\x01\xff", 10,
       "its first bytes are f1 93 db 25 c8 40 e5 c1"},
  };
  char p[512];
  for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
    write_raw(in_tmp(p, sizeof p, other[i].name), other[i].bytes, other[i].n);
    expect_read_fail(p, MUPC_EFORMAT, "not a safetensors file");
    assert_non_null(strstr(mupc_errmsg(), other[i].looks));
  }
  write_st(in_tmp(p, sizeof p, "long.safetensors"), 1000, "{\"a\":", 0);
  expect_read_fail(p, MUPC_EFORMAT, "header length 1000 runs past the end of the file");
}

/* Entries used below: 4 bytes at [0,4] and [4,8]. */
#define T4(name, b, e)                                                                             \
  "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" #b "," #e "]}"

static const struct bad_header {
  const char *what;
  const char *header;
  size_t data;
  const char *needle;
} BAD[] = {
    {"not-json", "{not json}", 0, "not valid JSON"},
    {"comment", "{/* json-c allows this */}", 0, "not valid JSON"},
    {"single-quotes", "{'a':{}}", 0, "not valid JSON: unexpected ''' at byte 1"},
    {"single-quoted-dup", "{" T4("a", 0, 4) ",'a':{}}", 4, "not valid JSON"},
    {"nan", "{\"__metadata__\":{\"a\":NaN}}", 0, "not valid JSON: unexpected 'N'"},
    {"infinity", "{\"__metadata__\":{\"a\":-Infinity}}", 0, "not valid JSON"},
    {"raw-tab", "{\"__metadata__\":{\"a\":\"x\ty\"}}", 0, "control character"},
    {"trailing-comma", "{" T4("a", 0, 4) ",}", 4, "not valid JSON"},
    {"unfinished", "{\"a\":", 0, "ends inside"},
    {"array", "[1, 2]", 0, "not a JSON object"},
    {"string", "\"x\"", 0, "not a JSON object"},
    {"after-object", "{} x", 0, "unexpected bytes after"},
    {"two-objects", "{}{}", 0, "unexpected bytes after"},
    {"nul", "{}\0  ", 0, "NUL"},
    {"entry-not-object", "{\"a\":5}", 0, "\"a\": entry is a JSON int, expected an object"},
    {"no-dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing \"dtype\""},
    {"no-shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\""},
    {"no-offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\""},
    {"f16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "dtype F16, only F32"},
    {"bf16", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "BF16"},
    {"dtype-int", "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "dtype is a JSON int"},
    {"shape-not-array", "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
     "expected an array"},
    {"negative-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is -1"},
    {"float-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
     "not an integer"},
    {"five-dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "5 entries, at most 4"},
    {"size-mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "span 4 bytes"},
    {"huge-shape",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
     "too large"},
    {"one-offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     "expected 2"},
    {"negative-offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
     "expected >= 0"},
    {"backwards", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8,
     "run backwards"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "overlap tensor \"a\""},
    {"gap", "{" T4("a", 0, 4) "," T4("b", 8, 12) "}", 12, "start at 8, expected 4"},
    {"not-from-0", "{" T4("a", 4, 8) "}", 8, "start at 4, expected 0"},
    {"past-end", "{" T4("a", 0, 4) "," T4("b", 4, 8) "}", 6, "past the end"},
    {"huge-offsets",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,"
     "18446744073709551616]}}",
     4, NULL},
    {"trailing", "{" T4("a", 0, 4) "}", 9, "5 trailing bytes"},
    {"trailing-no-tensors", "{}", 3, "3 trailing bytes"},
    {"duplicate", "{" T4("a", 0, 4) "," T4("a", 4, 8) "}", 8, "duplicate tensor name \"a\""},
    {"duplicate-escaped", "{" T4("ab", 0, 4) "," T4("\\u0061b", 4, 8) "}", 8,
     "duplicate tensor name \"ab\""},
    {"duplicate-field",
     "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "duplicate key \"dtype\""},
    {"duplicate-meta", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate key \"k\""},
    {"duplicate-metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate"},
    {"nul-in-name", "{" T4("a\\u0000b", 0, 4) "}", 4, "NUL"},
    {"meta-not-object", "{\"__metadata__\":\"x\"}", 0, "__metadata__ is a JSON string"},
    {"meta-value-int", "{\"__metadata__\":{\"epoch\":3}}", 0, "\"epoch\" is a JSON int"},
    {"meta-value-null", "{\"__metadata__\":{\"a\":\"b\",\"c\":null}}", 0, "\"c\" is a JSON null"},
    {"empty-name", "{" T4("", 0, 4) "}", 4, "empty name"},
    {"long-name",
     "{" T4(
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
         0, 4) "}",
     4, "128 characters, at most 127"},
    {"bad-utf8", "{\"\xff\xfe\":{}}", 0, NULL},
};

static void test_read_bad_headers(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    char name[128], p[512];
    snprintf(name, sizeof name, "bad-%s.safetensors", BAD[i].what);
    in_tmp(p, sizeof p, name);
    if (strcmp(BAD[i].what, "nul") == 0) {
      /* strlen would stop at the NUL: write the five bytes by hand. */
      write_raw(p, "\x05\0\0\0\0\0\0\0{}\0  ", 13);
    } else {
      write_st(p, UINT64_MAX, BAD[i].header, BAD[i].data);
    }
    expect_read_fail(p, MUPC_EFORMAT, BAD[i].needle);
  }
}

/* 127 characters is the longest name, and it reads back whole. */
static void test_read_longest_name(void **state) {
  (void)state;
  char p[512], name[128], header[512];
  memset(name, 'n', 127);
  name[127] = '\0';
  snprintf(header, sizeof header,
           "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
  write_st(in_tmp(p, sizeof p, "longest.safetensors"), UINT64_MAX, header, 4);
  mupc_st_file g;
  assert_int_equal(mupc_st_read(p, &g), MUPC_OK);
  assert_string_equal(g.tensors[0].name, name);
  assert_non_null(mupc_st_find(&g, name));
  mupc_st_free(&g);
}

/* ---- the atomic replace (src/atomic.c) --------------------------------- */

/* The whole file at path must be exactly `text`. */
static void expect_contents(const char *path, const char *text) {
  size_t n = 0;
  unsigned char *now = slurp(path, &n);
  assert_int_equal(n, strlen(text));
  assert_memory_equal(now, text, n);
  free(now);
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 0777;
}

/* Until the commit the path holds the old file (what a reader opening it
 * meanwhile gets) and the new bytes sit in one temporary beside it; after
 * it, the new file with the old mode and no temporary. */
static void test_atomic_replace(void **state) {
  (void)state;
  char p[512];
  in_tmp(p, sizeof p, "cache.json");
  write_raw(p, "old contents", 12);
  assert_int_equal(chmod(p, 0640), 0);

  mupc__atomic a;
  assert_int_equal(mupc__atomic_open(p, &a), MUPC_OK);
  assert_int_equal(fwrite("new", 1, 3, a.fp), 3);
  assert_int_equal(fflush(a.fp), 0);
  expect_contents(p, "old contents");
  assert_int_equal(count_temporaries(), 1);
  assert_non_null(strstr(a.tmp, p));
  assert_int_equal(mupc__atomic_commit(&a), MUPC_OK);
  assert_null(a.tmp);
  assert_null(a.fp);
  expect_contents(p, "new");
  assert_int_equal(mode_of(p), 0640);
  assert_int_equal(count_temporaries(), 0);
  mupc__atomic_abort(&a); /* after a commit: nothing to undo */
  expect_contents(p, "new");

  /* The whole-buffer form, and a new file: 0644, not mkstemp's 0600. */
  assert_int_equal(mupc__atomic_write(p, "{}", 2), MUPC_OK);
  expect_contents(p, "{}");
  assert_int_equal(mupc__atomic_write(in_tmp(p, sizeof p, "fresh.json"), "x", 1), MUPC_OK);
  expect_contents(p, "x");
  assert_int_equal(mode_of(p), 0644);
  assert_int_equal(mupc__atomic_write(p, "", 0), MUPC_OK);
  expect_contents(p, "");
  assert_int_equal(count_temporaries(), 0);

  /* A path without a directory part: the temporary and the directory sync
   * work in the current directory. */
  char cwd[512];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(tmpdir), 0);
  int status = mupc__atomic_write("relative.json", "rel", 3);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(status, MUPC_OK);
  expect_contents(in_tmp(p, sizeof p, "relative.json"), "rel");
  assert_int_equal(count_temporaries(), 0);
}

/* An abort, twice even, leaves the old file and no temporary; one before
 * anything was written leaves no file at all. */
static void test_atomic_abort(void **state) {
  (void)state;
  char p[512];
  in_tmp(p, sizeof p, "kept.json");
  write_raw(p, "old", 3);
  mupc__atomic a;
  assert_int_equal(mupc__atomic_open(p, &a), MUPC_OK);
  assert_int_equal(fwrite("half a new fi", 1, 13, a.fp), 13);
  mupc__atomic_abort(&a);
  mupc__atomic_abort(&a);
  expect_contents(p, "old");
  assert_int_equal(count_temporaries(), 0);

  in_tmp(p, sizeof p, "never.json");
  assert_int_equal(mupc__atomic_open(p, &a), MUPC_OK);
  mupc__atomic_abort(&a);
  assert_int_equal(access(p, F_OK), -1);
  assert_int_equal(count_temporaries(), 0);
}

/* No directory to put the temporary in: MUPC_EIO, and the message names
 * the path and why; nothing is created, and an abort after the failed open
 * is harmless. */
static void test_atomic_missing_directory(void **state) {
  (void)state;
  char p[512];
  in_tmp(p, sizeof p, "no-such-dir/x.json");
  assert_int_equal(mupc__atomic_write(p, "x", 1), MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), p));
  assert_non_null(strstr(mupc_errmsg(), "cannot create a temporary file beside it"));
  assert_non_null(strstr(mupc_errmsg(), strerror(ENOENT)));
  assert_int_equal(access(p, F_OK), -1);

  mupc__atomic a;
  assert_int_equal(mupc__atomic_open(p, &a), MUPC_EIO);
  assert_null(a.tmp);
  assert_null(a.fp);
  mupc__atomic_abort(&a);
  assert_int_equal(count_temporaries(), 0);
}

/* The status of a failed call: a full disk or quota is MUPC_ENOSPC (the
 * caller may free space and retry), anything else MUPC_EIO; no errno reads
 * as an I/O error, not "Success". */
static void test_atomic_write_fail_status(void **state) {
  (void)state;
  char want[128];
  snprintf(want, sizeof want, "/x: write failed: %s", strerror(ENOSPC));
  assert_int_equal(mupc__write_fail("/x", "write failed", ENOSPC), MUPC_ENOSPC);
  assert_string_equal(mupc_errmsg(), want);
#ifdef EDQUOT
  assert_int_equal(mupc__write_fail("/x", "write failed", EDQUOT), MUPC_ENOSPC);
#endif
  assert_int_equal(mupc__write_fail("/x", "fsync failed", EIO), MUPC_EIO);
  assert_int_equal(mupc__write_fail("/x", "write failed", 0), MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), strerror(EIO)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_read_header_only),
      cmocka_unit_test(test_round_trip_empty_and_large),
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_read_foreign),
      cmocka_unit_test(test_overwrite),
      cmocka_unit_test(test_failed_write_keeps_old_file),
      cmocka_unit_test(test_write_into_missing_dir),
      cmocka_unit_test(test_write_into_readonly_dir),
      cmocka_unit_test(test_write_refuses_bad_input),
      cmocka_unit_test(test_read_short_files),
      cmocka_unit_test(test_read_other_formats),
      cmocka_unit_test(test_read_bad_headers),
      cmocka_unit_test(test_read_longest_name),
      cmocka_unit_test(test_atomic_replace),
      cmocka_unit_test(test_atomic_abort),
      cmocka_unit_test(test_atomic_missing_directory),
      cmocka_unit_test(test_atomic_write_fail_status),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
