/* safetensors checkpoints (F32 only).
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON, then the
 * data section. The JSON is an object mapping each tensor name to
 * {"dtype":"F32","shape":[...],"data_offsets":[begin,end]} (offsets in
 * bytes from the start of the data section) plus an optional
 * "__metadata__" object of string values. The writer pads the JSON with
 * spaces so the data starts 8-byte aligned, as the reference writer does.
 * Every number is assembled byte by byte, so files are little-endian on any
 * host.
 *
 * The reader trusts nothing: the tensors must tile the data section exactly
 * (from 0, contiguous, no overlap, no trailing bytes), names are unique and
 * every shape agrees with its byte span. A checkpoint that passes loads the
 * same way in Python's safetensors. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER UINT64_C(100000000) /* the reference implementation's limit */
#define ST_MAX_NAME 127
#define ST_MAX_DIMS 4
#define ST_CHUNK_FLOATS 16384
#define ST_METADATA "__metadata__"

/* ---- byte order ---------------------------------------------------------- */

static void store_le64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t load_le64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | b[i];
  return v;
}

static void store_f32(unsigned char *b, float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  for (int i = 0; i < 4; i++)
    b[i] = (unsigned char)(u >> (8 * i));
}

static float load_f32(const unsigned char *b) {
  uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Number of elements of a shape, or -1 if a dimension is negative, -2 if
 * the byte size (elements * 4) would not fit in both size_t and int64. */
static int shape_elements(const int64_t *shape, int ndim, uint64_t *out) {
  uint64_t limit = (uint64_t)INT64_MAX / 4;
  if ((uint64_t)(SIZE_MAX / 4) < limit) limit = (uint64_t)(SIZE_MAX / 4);
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return -1;
  for (int i = 0; i < ndim; i++) {
    uint64_t d = (uint64_t)shape[i];
    if (d == 0) {
      n = 0;
      break;
    }
    if (n > limit / d) return -2;
    n *= d;
  }
  *out = n;
  return 0;
}

/* ---- writing ----------------------------------------------------------- */

static int check_tensor(const char *path, size_t i, const mupc_st_tensor *t) {
  if (!memchr(t->name, '\0', sizeof t->name))
    return mupc__fail(MUPC_EINVAL, "%s: tensor %zu: name is longer than %d characters", path, i,
                      ST_MAX_NAME);
  if (t->name[0] == '\0') return mupc__fail(MUPC_EINVAL, "%s: tensor %zu: empty name", path, i);
  if (strcmp(t->name, ST_METADATA) == 0)
    return mupc__fail(MUPC_EINVAL, "%s: tensor %zu: the name %s is reserved", path, i, ST_METADATA);
  if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
    return mupc__fail(MUPC_EINVAL, "%s: tensor \"%s\": ndim %d, expected 0 ... %d", path, t->name,
                      t->ndim, ST_MAX_DIMS);
  uint64_t n = 0;
  int e = shape_elements(t->shape, t->ndim, &n);
  if (e == -1)
    return mupc__fail(MUPC_EINVAL, "%s: tensor \"%s\": negative dimension in shape", path, t->name);
  if (e == -2)
    return mupc__fail(MUPC_EINVAL, "%s: tensor \"%s\": shape is too large", path, t->name);
  if (n > 0 && !t->data)
    return mupc__fail(MUPC_EINVAL, "%s: tensor \"%s\": data is NULL for %" PRIu64 " elements", path,
                      t->name, n);
  return MUPC_OK;
}

/* Adds key: val to obj, taking ownership of val even on failure. */
static int json_add(json_object *obj, const char *key, json_object *val) {
  if (!val) return -1;
  if (json_object_object_add(obj, key, val) != 0) {
    json_object_put(val);
    return -1;
  }
  return 0;
}

static int json_push(json_object *arr, json_object *val) {
  if (!val) return -1;
  if (json_object_array_add(arr, val) != 0) {
    json_object_put(val);
    return -1;
  }
  return 0;
}

/* {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, or NULL when
 * out of memory. */
static json_object *tensor_entry(const mupc_st_tensor *t, uint64_t begin, uint64_t end) {
  json_object *entry = json_object_new_object();
  json_object *shape = json_object_new_array();
  json_object *offsets = json_object_new_array();
  if (!entry || !shape || !offsets) goto ERROR;
  for (int d = 0; d < t->ndim; d++)
    if (json_push(shape, json_object_new_int64(t->shape[d])) != 0) goto ERROR;
  if (json_push(offsets, json_object_new_int64((int64_t)begin)) != 0 ||
      json_push(offsets, json_object_new_int64((int64_t)end)) != 0)
    goto ERROR;
  int failed = json_add(entry, "dtype", json_object_new_string("F32"));
  failed |= json_add(entry, "shape", shape);
  shape = NULL;
  failed |= json_add(entry, "data_offsets", offsets);
  offsets = NULL;
  if (failed) goto ERROR;
  return entry;

ERROR:
  json_object_put(entry);
  json_object_put(shape);
  json_object_put(offsets);
  return NULL;
}

static int build_metadata(const char *path, const mupc_st_file *f, json_object *root) {
  json_object *meta = json_object_new_object();
  if (!meta) return mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
  for (size_t i = 0; i < f->nmeta; i++) {
    const char *k = f->meta_keys[i];
    const char *v = f->meta_values[i];
    if (!k || !v) {
      json_object_put(meta);
      return mupc__fail(MUPC_EINVAL, "%s: metadata entry %zu has a NULL key or value", path, i);
    }
    if (json_object_object_get_ex(meta, k, NULL)) {
      json_object_put(meta);
      return mupc__fail(MUPC_EINVAL, "%s: duplicate metadata key \"%s\"", path, k);
    }
    if (json_add(meta, k, json_object_new_string(v)) != 0) {
      json_object_put(meta);
      return mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
    }
  }
  if (json_add(root, ST_METADATA, meta) != 0)
    return mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
  return MUPC_OK;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes: malloc'd
 * into *out, its length in *len. Tensors are laid out in the order given. */
static int build_header(const char *path, const mupc_st_file *f, char **out, size_t *len) {
  int status = MUPC_OK;
  json_object *root = json_object_new_object();
  if (!root) return mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
  /* Metadata first, as the reference writer puts it. */
  if (f->nmeta > 0) {
    status = build_metadata(path, f, root);
    if (status != MUPC_OK) goto ERROR;
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < f->ntensors; i++) {
    const mupc_st_tensor *t = &f->tensors[i];
    status = check_tensor(path, i, t);
    if (status != MUPC_OK) goto ERROR;
    if (json_object_object_get_ex(root, t->name, NULL)) {
      status = mupc__fail(MUPC_EINVAL, "%s: duplicate tensor name \"%s\"", path, t->name);
      goto ERROR;
    }
    uint64_t n = 0;
    shape_elements(t->shape, t->ndim, &n);
    if (n * 4 > (uint64_t)INT64_MAX - offset) {
      status = mupc__fail(MUPC_EINVAL, "%s: tensors are too large for one file", path);
      goto ERROR;
    }
    if (json_add(root, t->name, tensor_entry(t, offset, offset + n * 4)) != 0) {
      status = mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
      goto ERROR;
    }
    offset += n * 4;
  }

  const char *text =
      json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!text) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
    goto ERROR;
  }
  size_t n = strlen(text);
  size_t padded = (n + 7) / 8 * 8;
  if (padded > ST_MAX_HEADER) {
    status = mupc__fail(MUPC_EINVAL, "%s: header would be %zu bytes, over the limit of %" PRIu64,
                        path, padded, ST_MAX_HEADER);
    goto ERROR;
  }
  char *buf = malloc(padded);
  if (!buf) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory building the header", path);
    goto ERROR;
  }
  memcpy(buf, text, n);
  memset(buf + n, ' ', padded - n);
  *out = buf;
  *len = padded;

ERROR:
  json_object_put(root);
  return status;
}

/* Writes one tensor's data as little-endian floats through a bounce
 * buffer. */
static int write_tensor(FILE *fp, const char *path, const mupc_st_tensor *t, unsigned char *chunk) {
  uint64_t n = 0;
  shape_elements(t->shape, t->ndim, &n);
  for (uint64_t done = 0; done < n;) {
    size_t k = n - done < ST_CHUNK_FLOATS ? (size_t)(n - done) : ST_CHUNK_FLOATS;
    for (size_t i = 0; i < k; i++)
      store_f32(chunk + 4 * i, t->data[done + i]);
    errno = 0;
    if (fwrite(chunk, 4, k, fp) != k) return mupc__write_fail(path, "write failed", errno);
    done += k;
  }
  return MUPC_OK;
}

int mupc_st_write(const char *path, const mupc_st_file *f) {
  if (!path || !f) return mupc__fail(MUPC_EINVAL, "mupc_st_write: path and file must be set");
  if ((f->ntensors > 0 && !f->tensors) || (f->nmeta > 0 && (!f->meta_keys || !f->meta_values)))
    return mupc__fail(MUPC_EINVAL, "%s: tensor or metadata arrays are NULL", path);

  char *header = NULL;
  size_t header_len = 0;
  unsigned char *chunk = NULL;
  mupc__atomic out = {0};

  int status = build_header(path, f, &header, &header_len);
  if (status != MUPC_OK) goto ERROR;
  chunk = malloc(4 * ST_CHUNK_FLOATS);
  if (!chunk) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory", path);
    goto ERROR;
  }
  /* Through a temporary file beside path (atomic.c), so a crash or full
   * disk never leaves a half-written checkpoint at path. */
  status = mupc__atomic_open(path, &out);
  if (status != MUPC_OK) goto ERROR;

  unsigned char len8[8];
  store_le64(len8, header_len);
  errno = 0;
  if (fwrite(len8, 1, 8, out.fp) != 8 || fwrite(header, 1, header_len, out.fp) != header_len) {
    status = mupc__write_fail(path, "write failed", errno);
    goto ERROR;
  }
  for (size_t i = 0; i < f->ntensors && status == MUPC_OK; i++)
    status = write_tensor(out.fp, path, &f->tensors[i], chunk);
  if (status == MUPC_OK) status = mupc__atomic_commit(&out);

ERROR:
  mupc__atomic_abort(&out); /* nothing left after a commit */
  free(chunk);
  free(header);
  return status;
}

/* ---- reading ----------------------------------------------------------- */

/* One tensor of the header, before its data is read. */
/* The element types a reader may accept. Checkpoints take F32 alone; data
 * sets (dataset.c) also take bytes for pixels and any integer for labels. */
typedef struct st_dtype {
  const char *name;
  unsigned size;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4}, {"U8", 1},  {"I8", 1},  {"U16", 2}, {"I16", 2},
    {"U32", 4}, {"I32", 4}, {"U64", 8}, {"I64", 8},
};

typedef struct st_entry {
  const char *name; /* owned by the parsed header */
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  uint64_t elements;
  const st_dtype *dtype;
  uint64_t begin, end;
  size_t order; /* position in the header, to sort ties deterministically */
} st_entry;

/* One open object or array while scanning the header for duplicates. */
typedef struct scan_level {
  int is_object;
  int expect_key;
  json_object *seen; /* keys of this object so far, as a set */
} scan_level;

/* Decodes the JSON string literal s[0 … n-1] (quotes included). */
static json_object *decode_key(const char *s, size_t n) {
  json_tokener *tok = json_tokener_new();
  if (!tok) return NULL;
  json_object *str = json_tokener_parse_ex(tok, s, (int)n);
  json_tokener_free(tok);
  return str;
}

/* json-c keeps the last of duplicate keys silently, and even in strict
 * mode accepts a few things JSON (and so the reference reader) does not:
 * single-quoted strings, NaN and Infinity, raw control characters in
 * strings. So the raw header text, already known to parse, is scanned once
 * more: outside strings only JSON's structural, number and literal
 * characters may appear, and every object's keys must be distinct. Keys are
 * decoded by json-c itself so escapes compare correctly ("a" and "\u0061"
 * are the same name). Returns MUPC_OK or a failure naming the problem. */
static int check_header_text(const char *path, const char *s, size_t n) {
  scan_level level[JSON_TOKENER_DEFAULT_DEPTH + 1];
  int depth = 0;
  int status = MUPC_OK;
  for (size_t i = 0; i < n && status == MUPC_OK; i++) {
    char c = s[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < n && s[j] != '"' && (unsigned char)s[j] >= 0x20)
        j += s[j] == '\\' ? 2 : 1;
      if (j < n && s[j] != '"') {
        status = mupc__fail(MUPC_EFORMAT,
                            "%s: header is not valid JSON: control character in a string at "
                            "byte %zu",
                            path, j);
        break;
      }
      scan_level *top = depth > 0 ? &level[depth - 1] : NULL;
      if (top && top->is_object && top->expect_key) {
        top->expect_key = 0;
        json_object *key = decode_key(s + i, j - i + 1);
        const char *k = key ? json_object_get_string(key) : NULL;
        if (!k)
          status = mupc__fail(MUPC_ENOMEM, "%s: out of memory parsing the header", path);
        else if (strlen(k) != (size_t)json_object_get_string_len(key))
          status = mupc__fail(MUPC_EFORMAT, "%s: header key with a NUL character", path);
        else if (json_object_object_get_ex(top->seen, k, NULL))
          status = mupc__fail(MUPC_EFORMAT, "%s: duplicate %s \"%.128s\" in the header", path,
                              depth == 1 && strcmp(k, ST_METADATA) != 0 ? "tensor name" : "key", k);
        else if (json_object_object_add(top->seen, k, NULL) != 0)
          status = mupc__fail(MUPC_ENOMEM, "%s: out of memory parsing the header", path);
        json_object_put(key);
      }
      i = j;
    } else if (c == '{' || c == '[') {
      if (depth == JSON_TOKENER_DEFAULT_DEPTH + 1) {
        status = mupc__fail(MUPC_EFORMAT, "%s: header nests too deeply", path);
        break;
      }
      scan_level *l = &level[depth++];
      l->is_object = c == '{';
      l->expect_key = l->is_object;
      l->seen = NULL;
      if (l->is_object && !(l->seen = json_object_new_object()))
        status = mupc__fail(MUPC_ENOMEM, "%s: out of memory parsing the header", path);
    } else if ((c == '}' || c == ']') && depth > 0) {
      json_object_put(level[--depth].seen);
    } else if (c == ',') {
      if (depth > 0 && level[depth - 1].is_object) level[depth - 1].expect_key = 1;
    } else if (c == '\0' || !strchr(" \t\r\n:0123456789+-.eEtruefalsn", c)) {
      unsigned char u = (unsigned char)c;
      if (u > 0x20 && u < 0x7f)
        status = mupc__fail(
            MUPC_EFORMAT, "%s: header is not valid JSON: unexpected '%c' at byte %zu", path, c, i);
      else
        status = mupc__fail(MUPC_EFORMAT,
                            "%s: header is not valid JSON: unexpected byte 0x%02x at byte %zu",
                            path, (unsigned)u, i);
    }
  }
  while (depth > 0)
    json_object_put(level[--depth].seen);
  return status;
}

/* Parses the N header bytes (hdr[n] is a NUL) into a JSON object. */
static int parse_header(const char *path, const char *hdr, size_t n, json_object **out) {
  if (memchr(hdr, '\0', n)) return mupc__fail(MUPC_EFORMAT, "%s: header contains a NUL byte", path);
  size_t first = strspn(hdr, " \t\r\n");
  if (first == n || hdr[first] != '{')
    return mupc__fail(MUPC_EFORMAT, "%s: header is not a JSON object (it starts with \"%.16s\")",
                      path, hdr + first);

  json_tokener *tok = json_tokener_new();
  if (!tok) return mupc__fail(MUPC_ENOMEM, "%s: out of memory parsing the header", path);
  /* Strict: no comments, single quotes or other json-c extensions, as the
   * reference (serde_json) reader would refuse them. */
  int flags = JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS;
#ifdef JSON_TOKENER_VALIDATE_UTF8
  flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
  json_tokener_set_flags(tok, flags);
  json_object *root = json_tokener_parse_ex(tok, hdr, (int)n);
  enum json_tokener_error err = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!root) {
    if (err == json_tokener_continue)
      return mupc__fail(MUPC_EFORMAT, "%s: header ends inside its JSON object", path);
    return mupc__fail(MUPC_EFORMAT, "%s: header is not valid JSON: %s near byte %zu", path,
                      json_tokener_error_desc(err), end);
  }
  /* Only padding may follow the object. */
  if (end + strspn(hdr + end, " \t\r\n") != n) {
    json_object_put(root);
    return mupc__fail(MUPC_EFORMAT,
                      "%s: unexpected bytes after the header's JSON object (byte %zu)", path, end);
  }
  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    return mupc__fail(MUPC_EFORMAT, "%s: header is a JSON %s, expected an object", path,
                      json_type_to_name(json_object_get_type(root)));
  }
  int status = check_header_text(path, hdr, n);
  if (status != MUPC_OK) {
    json_object_put(root);
    return status;
  }
  *out = root;
  return MUPC_OK;
}

/* A field of a tensor entry that must be an array of non-negative
 * integers, with at most `max` items; their values go to v. */
static int get_uint_array(const char *path, const char *name, json_object *entry, const char *field,
                          int max, int64_t *v, int *count) {
  json_object *arr = NULL;
  if (!json_object_object_get_ex(entry, field, &arr))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": missing \"%s\"", path, name, field);
  if (!json_object_is_type(arr, json_type_array))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": \"%s\" is a JSON %s, expected an array",
                      path, name, field, json_type_to_name(json_object_get_type(arr)));
  size_t len = json_object_array_length(arr);
  if (len > (size_t)max)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": \"%s\" has %zu entries, at most %d", path,
                      name, field, len, max);
  for (size_t i = 0; i < len; i++) {
    json_object *item = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(item, json_type_int))
      return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": %s[%zu] is not an integer", path, name,
                        field, i);
    v[i] = json_object_get_int64(item);
    if (v[i] < 0)
      return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": %s[%zu] is %" PRId64 ", expected >= 0",
                        path, name, field, i, v[i]);
  }
  *count = (int)len;
  return MUPC_OK;
}

/* Validates one tensor entry on its own (the layout is checked later). */
static int parse_entry(const char *path, const char *name, json_object *val, int any, st_entry *e) {
  if (strlen(name) > ST_MAX_NAME)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor name \"%.32s...\" is %zu characters, at most %d",
                      path, name, strlen(name), ST_MAX_NAME);
  if (name[0] == '\0') return mupc__fail(MUPC_EFORMAT, "%s: tensor with an empty name", path);
  if (!json_object_is_type(val, json_type_object))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": entry is a JSON %s, expected an object",
                      path, name, json_type_to_name(json_object_get_type(val)));
  json_object *dtype = NULL;
  if (!json_object_object_get_ex(val, "dtype", &dtype))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": missing \"dtype\"", path, name);
  if (!json_object_is_type(dtype, json_type_string))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": dtype is a JSON %s, expected a string",
                      path, name, json_type_to_name(json_object_get_type(dtype)));
  const char *dname = json_object_get_string(dtype);
  e->dtype = NULL;
  for (size_t i = 0; i < (any ? sizeof st_dtypes / sizeof st_dtypes[0] : 1); i++)
    if (strcmp(dname, st_dtypes[i].name) == 0) e->dtype = &st_dtypes[i];
  if (!e->dtype)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": dtype %s, only %s supported", path, name,
                      dname, any ? "F32, U8, I8, U16, I16, U32, I32, U64 and I64 are" : "F32 is");

  e->name = name;
  int status = get_uint_array(path, name, val, "shape", ST_MAX_DIMS, e->shape, &e->ndim);
  if (status != MUPC_OK) return status;
  int64_t off[2];
  int noff = 0;
  status = get_uint_array(path, name, val, "data_offsets", 2, off, &noff);
  if (status != MUPC_OK) return status;
  if (noff != 2)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": data_offsets has %d entries, expected 2",
                      path, name, noff);
  e->begin = (uint64_t)off[0];
  e->end = (uint64_t)off[1];
  if (e->begin > e->end)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] run backwards",
                      path, name, e->begin, e->end);
  if (shape_elements(e->shape, e->ndim, &e->elements) != 0)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"%s\": shape is too large", path, name);
  const uint64_t size = e->dtype->size;
  if (e->elements > UINT64_MAX / size || e->elements * size != e->end - e->begin)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: tensor \"%s\": shape has %" PRIu64 " elements (%" PRIu64
                      " bytes of %s) but data_offsets span %" PRIu64 " bytes",
                      path, name, e->elements, e->elements * size, e->dtype->name,
                      e->end - e->begin);
  return MUPC_OK;
}

static int entry_cmp(const void *pa, const void *pb) {
  const st_entry *a = pa, *b = pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  if (a->end != b->end) return a->end < b->end ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* The tensors, sorted by offset, must tile 0 … data_size exactly. */
static int check_layout(const char *path, const st_entry *e, size_t n, uint64_t data_size) {
  uint64_t expect = 0;
  for (size_t i = 0; i < n; i++) {
    if (e[i].end > data_size)
      return mupc__fail(MUPC_EFORMAT,
                        "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                        "] run past the end of the data (%" PRIu64 " bytes)",
                        path, e[i].name, e[i].begin, e[i].end, data_size);
    if (e[i].begin < expect)
      return mupc__fail(MUPC_EFORMAT,
                        "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                        "] overlap tensor \"%s\", which ends at %" PRIu64,
                        path, e[i].name, e[i].begin, e[i].end, e[i - 1].name, expect);
    if (e[i].begin > expect)
      return mupc__fail(MUPC_EFORMAT,
                        "%s: tensor \"%s\": data_offsets start at %" PRIu64 ", expected %" PRIu64
                        " (tensors must tile the data contiguously from 0)",
                        path, e[i].name, e[i].begin, expect);
    expect = e[i].end;
  }
  if (expect != data_size)
    return mupc__fail(MUPC_EFORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor", path,
                      data_size - expect);
  return MUPC_OK;
}

/* Splits the header into tensor entries (sorted by offset) and metadata
 * (copied into out). */
static int parse_root(const char *path, json_object *root, int any, st_entry **entries,
                      size_t *count, mupc_st_file *out) {
  json_object *meta = NULL;
  size_t n = (size_t)json_object_object_length(root);
  if (json_object_object_get_ex(root, ST_METADATA, &meta)) n--;
  st_entry *e = calloc(n ? n : 1, sizeof *e);
  if (!e) return mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu tensors", path, n);
  size_t k = 0;
  int status = MUPC_OK;
  json_object_object_foreach(root, key, val) {
    if (strcmp(key, ST_METADATA) == 0) continue;
    status = parse_entry(path, key, val, any, &e[k]);
    if (status != MUPC_OK) goto ERROR;
    e[k].order = k;
    k++;
  }
  if (meta) {
    if (!json_object_is_type(meta, json_type_object)) {
      status = mupc__fail(MUPC_EFORMAT, "%s: %s is a JSON %s, expected an object", path,
                          ST_METADATA, json_type_to_name(json_object_get_type(meta)));
      goto ERROR;
    }
    size_t nm = (size_t)json_object_object_length(meta);
    out->meta_keys = calloc(nm ? nm : 1, sizeof *out->meta_keys);
    out->meta_values = calloc(nm ? nm : 1, sizeof *out->meta_values);
    if (!out->meta_keys || !out->meta_values) {
      status = mupc__fail(MUPC_ENOMEM, "%s: out of memory for metadata", path);
      goto ERROR;
    }
    json_object_object_foreach(meta, mkey, mval) {
      if (!json_object_is_type(mval, json_type_string)) {
        status = mupc__fail(MUPC_EFORMAT, "%s: %s \"%.128s\" is a JSON %s, expected a string", path,
                            ST_METADATA, mkey, json_type_to_name(json_object_get_type(mval)));
        goto ERROR;
      }
      char *ks = strdup(mkey);
      char *vs = strdup(json_object_get_string(mval));
      if (!ks || !vs) {
        free(ks);
        free(vs);
        status = mupc__fail(MUPC_ENOMEM, "%s: out of memory for metadata", path);
        goto ERROR;
      }
      out->meta_keys[out->nmeta] = ks;
      out->meta_values[out->nmeta] = vs;
      out->nmeta++;
    }
  }
  qsort(e, n, sizeof *e, entry_cmp);
  *entries = e;
  *count = n;
  return MUPC_OK;

ERROR:
  free(e);
  return status;
}

/* A tensor of another type than F32 keeps its little-endian bytes. */
static int read_raw(const char *path, FILE *fp, const st_entry *e, mupc_st_tensor *t) {
  const uint64_t bytes = e->end - e->begin;
  if (bytes > SIZE_MAX || !(t->bytes = malloc((size_t)bytes)))
    return mupc__fail(MUPC_ENOMEM, "%s: tensor \"%s\": out of memory for %" PRIu64 " bytes", path,
                      t->name, bytes);
  if (fread(t->bytes, 1, (size_t)bytes, fp) != (size_t)bytes)
    return mupc__fail(MUPC_EIO, "%s: tensor \"%s\": read failed: %s", path, t->name,
                      ferror(fp) ? strerror(errno) : "file shrank while reading");
  return MUPC_OK;
}

/* The tensors' names, shapes and types into out->tensors, in offset order,
 * and (with_data) the data section into them. */
static int read_tensors(const char *path, FILE *fp, const st_entry *e, size_t n, int with_data,
                        mupc_st_file *out) {
  if (n == 0) return MUPC_OK;
  out->tensors = calloc(n, sizeof *out->tensors);
  unsigned char *chunk = malloc(4 * ST_CHUNK_FLOATS);
  int status = MUPC_OK;
  if (!out->tensors || !chunk) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu tensors", path, n);
    goto ERROR;
  }
  for (size_t i = 0; i < n; i++) {
    mupc_st_tensor *t = &out->tensors[i];
    out->ntensors++;
    snprintf(t->name, sizeof t->name, "%s", e[i].name);
    t->ndim = e[i].ndim;
    memcpy(t->shape, e[i].shape, sizeof e[i].shape);
    snprintf(t->dtype, sizeof t->dtype, "%s", e[i].dtype->name);
    if (e[i].elements == 0 || !with_data) continue;
    if (e[i].dtype != &st_dtypes[0]) {
      status = read_raw(path, fp, &e[i], t);
      if (status != MUPC_OK) goto ERROR;
      continue;
    }
    t->data = malloc((size_t)e[i].elements * sizeof *t->data);
    if (!t->data) {
      status = mupc__fail(MUPC_ENOMEM, "%s: tensor \"%s\": out of memory for %" PRIu64 " floats",
                          path, t->name, e[i].elements);
      goto ERROR;
    }
    for (uint64_t done = 0; done < e[i].elements;) {
      uint64_t left = e[i].elements - done;
      size_t k = left < ST_CHUNK_FLOATS ? (size_t)left : ST_CHUNK_FLOATS;
      if (fread(chunk, 4, k, fp) != k) {
        /* The size was checked up front, so this is an I/O error or the
         * file shrank while being read. */
        status = mupc__fail(MUPC_EIO, "%s: tensor \"%s\": read failed: %s", path, t->name,
                            ferror(fp) ? strerror(errno) : "file shrank while reading");
        goto ERROR;
      }
      for (size_t j = 0; j < k; j++)
        t->data[done + j] = load_f32(chunk + 4 * j);
      done += k;
    }
  }

ERROR:
  free(chunk);
  return status;
}

/* What a file that is not safetensors looks like, from its first n bytes:
 * a known format's name, text, or else just its bytes. */
static void describe_start(const unsigned char *b, size_t n, char *dst, size_t dn) {
  static const struct {
    const char *magic;
    size_t len;
    const char *what;
  } known[] = {
      {"\x1f\x8b", 2, "gzip data"},
      {"PK\x03\x04", 4, "a zip archive (PyTorch's .pt and .pth files are zip archives)"},
      {"\x93NUMPY", 6, "a NumPy .npy array"},
      {"\x89HDF\r\n\x1a\n", 8, "an HDF5 file (e.g. Keras .h5)"},
      {"\177ELF", 4, "an ELF executable or library"},
      {"BZh", 3, "bzip2 data"},
      {"\3757zXZ", 5, "xz data"},
      {"\x28\xb5\x2f\xfd", 4, "zstd data"},
      {"\x89PNG", 4, "a PNG image"},
  };
  char hex[3 * 8 + 1] = "";
  for (size_t i = 0, used = 0; i < n && i < 8; i++)
    used += (size_t)snprintf(hex + used, sizeof hex - used, "%s%02x", i ? " " : "", b[i]);
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
    if (n >= known[k].len && !memcmp(b, known[k].magic, known[k].len)) {
      snprintf(dst, dn, "it looks like %s (first bytes %s)", known[k].what, hex);
      return;
    }
  /* A Python pickle (torch.save before 1.6, .pkl): PROTO 2…5. */
  if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) {
    snprintf(dst, dn, "it looks like a Python pickle, e.g. an old PyTorch .pt (first bytes %s)",
             hex);
    return;
  }
  /* IDX, mupc's data format: 0, 0, a type code, 1 to 4 dimensions. */
  if (n >= 4 && !b[0] && !b[1] && b[2] >= 0x08 && b[2] <= 0x0e && b[3] >= 1 && b[3] <= 4) {
    snprintf(dst, dn, "it looks like an IDX data file, not a model (first bytes %s)", hex);
    return;
  }
  /* Text: printable ASCII, blanks and well-formed UTF-8 (a sequence cut
   * by the end of the sample counts as well-formed). */
  int text = n > 0;
  for (size_t i = 0; i < n && text; i++) {
    const unsigned char c = b[i];
    size_t more = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
    if (c < 0x20 ? !(c == '\n' || c == '\r' || c == '\t') : c == 0x7f || (c >= 0x80 && !more))
      text = 0;
    for (; more && text && i + 1 < n; more--)
      if ((b[++i] & 0xc0) != 0x80) text = 0;
  }
  if (text) {
    char shown[17];
    size_t m = n < 16 ? n : 16;
    for (size_t i = 0; i < m; i++) {
      unsigned char c = b[i];
      shown[i] = (c < 0x20 || c > 0x7e) ? (c < 0x20 ? ' ' : '?') : (char)c;
    }
    shown[m] = '\0';
    snprintf(dst, dn, "it looks like text (\"%s\")", shown);
    return;
  }
  snprintf(dst, dn, "its first bytes are %s", hex);
}

/* A length that cannot be right (over the limit, past the end) on a file
 * whose header does not start with '{' (which the format requires): the
 * file is something else, and saying what helps more than the number. */
static int not_safetensors(const char *path, FILE *fp, const unsigned char len8[8]) {
  unsigned char b[16];
  memcpy(b, len8, 8);
  size_t n = 8 + fread(b + 8, 1, 8, fp);
  if (n > 8 && b[8] == '{') return 0;
  char what[160];
  describe_start(b, n, what, sizeof what);
  return mupc__fail(MUPC_EFORMAT,
                    "%s: not a safetensors file (those start with an 8-byte header length, then "
                    "a JSON header, '{'); %s",
                    path, what);
}

/* Reads and checks the 8-byte length and the header text (malloc'd, NUL
 * terminated). *data_size is what follows the header. */
static int read_header_text(const char *path, FILE *fp, char **text, size_t *len,
                            uint64_t *data_size) {
  struct stat st;
  if (fstat(fileno(fp), &st) != 0)
    return mupc__fail(MUPC_EIO, "%s: cannot stat: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return mupc__fail(MUPC_EIO, "%s: not a regular file", path);
  const uint64_t size = (uint64_t)st.st_size;
  if (size < 8)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: file is %" PRIu64 " bytes, shorter than the 8-byte header length", path,
                      size);
  unsigned char len8[8];
  if (fread(len8, 1, 8, fp) != 8)
    return mupc__fail(MUPC_EIO, "%s: read failed: %s", path,
                      ferror(fp) ? strerror(errno) : "file shrank while reading");
  const uint64_t n = load_le64(len8);
  int other;
  if ((n > ST_MAX_HEADER || n > size - 8) && (other = not_safetensors(path, fp, len8)))
    return other;
  if (n > ST_MAX_HEADER)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: header length %" PRIu64 " is over the limit of %" PRIu64 " bytes", path,
                      n, ST_MAX_HEADER);
  if (n > size - 8)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64
                      " bytes)",
                      path, n, size);
  if (n == 0) return mupc__fail(MUPC_EFORMAT, "%s: header is empty, expected a JSON object", path);
  char *buf = malloc((size_t)n + 1);
  if (!buf)
    return mupc__fail(MUPC_ENOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, n);
  if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
    free(buf);
    return mupc__fail(MUPC_EIO, "%s: read failed: %s", path,
                      ferror(fp) ? strerror(errno) : "file shrank while reading");
  }
  buf[n] = '\0';
  *text = buf;
  *len = (size_t)n;
  *data_size = size - 8 - n;
  return MUPC_OK;
}

int mupc_st_read(const char *path, mupc_st_file *out) {
  return mupc__st_read(path, 0, out);
}

int mupc__st_read(const char *path, int flags, mupc_st_file *out) {
  const int any = (flags & MUPC__ST_ANY_DTYPE) != 0;
  if (!path || !out) return mupc__fail(MUPC_EINVAL, "mupc_st_read: path and out must be set");
  mupc_st_file f = {0};
  char *text = NULL;
  size_t len = 0;
  uint64_t data_size = 0;
  json_object *root = NULL;
  st_entry *entries = NULL;
  size_t n = 0;
  int status = MUPC_OK;

  FILE *fp = fopen(path, "rb");
  if (!fp) return mupc__fail(MUPC_EIO, "%s: cannot open: %s", path, strerror(errno));
  status = read_header_text(path, fp, &text, &len, &data_size);
  if (status != MUPC_OK) goto ERROR;
  status = parse_header(path, text, len, &root);
  if (status != MUPC_OK) goto ERROR;
  status = parse_root(path, root, any, &entries, &n, &f);
  if (status != MUPC_OK) goto ERROR;
  /* The layout is checked before any data is allocated, so a header that
   * claims huge tensors in a small file costs nothing. */
  status = check_layout(path, entries, n, data_size);
  if (status != MUPC_OK) goto ERROR;
  status = read_tensors(path, fp, entries, n, !(flags & MUPC__ST_HEADER_ONLY), &f);
  if (status != MUPC_OK) goto ERROR;
  *out = f;
  f = (mupc_st_file){0};

ERROR:
  mupc_st_free(&f);
  free(entries);
  json_object_put(root);
  free(text);
  fclose(fp);
  return status;
}

void mupc_st_free(mupc_st_file *f) {
  if (!f) return;
  for (size_t i = 0; i < f->ntensors; i++) {
    free(f->tensors[i].data);
    free(f->tensors[i].bytes);
  }
  free(f->tensors);
  for (size_t i = 0; i < f->nmeta; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->meta_keys);
  free(f->meta_values);
  memset(f, 0, sizeof *f);
}

const mupc_st_tensor *mupc_st_find(const mupc_st_file *f, const char *name) {
  if (!f || !name) return NULL;
  for (size_t i = 0; i < f->ntensors; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

const char *mupc_st_meta(const mupc_st_file *f, const char *key) {
  if (!f || !key) return NULL;
  for (size_t i = 0; i < f->nmeta; i++)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}
