/* One atomic file replace, for every file the library writes (safetensors
 * checkpoints, the tuning cache): the bytes go to a temporary file beside
 * the target, are flushed and fsync'd, and a rename publishes them whole,
 * then the directory is fsync'd so the rename itself survives a crash. A
 * reader of the path sees the old file or the new one, never a part, and a
 * failure at any point leaves the old file and no temporary.
 *
 * Plain POSIX file I/O calling only status.c, so the data files may use it
 * and still work without OpenCL (DESIGN §6, tests/test_layers.sh). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mupc__write_fail(const char *path, const char *what, int err) {
  int status = MUPC_EIO;
  if (err == ENOSPC) status = MUPC_ENOSPC;
#ifdef EDQUOT
  if (err == EDQUOT) status = MUPC_ENOSPC;
#endif
  return mupc__fail(status, "%s: %s: %s", path, what, strerror(err ? err : EIO));
}

int mupc__atomic_open(const char *path, mupc__atomic *a) {
  memset(a, 0, sizeof *a);
  a->path = path;
  size_t tmp_size = strlen(path) + sizeof ".tmp.XXXXXX";
  char *tmpl = malloc(tmp_size);
  if (!tmpl) return mupc__fail(MUPC_ENOMEM, "%s: out of memory", path);
  snprintf(tmpl, tmp_size, "%s.tmp.XXXXXX", path);

  /* Beside the target, so the rename stays on one file system (atomic). */
  int fd = mkstemp(tmpl);
  if (fd < 0) {
    int status = mupc__write_fail(path, "cannot create a temporary file beside it", errno);
    free(tmpl);
    return status;
  }
  a->tmp = tmpl;
  /* mkstemp creates 0600; keep the old file's mode, or give a new file the
   * usual 0644, so replacing a file does not change who can read it. Best
   * effort: some file systems (FAT, some network mounts) refuse modes, and
   * that must not make writing impossible there. */
  struct stat old;
  mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 0777) : 0644;
  (void)fchmod(fd, mode);
  a->fp = fdopen(fd, "wb");
  if (!a->fp) {
    int status = mupc__write_fail(path, "cannot open the temporary file", errno);
    close(fd);
    mupc__atomic_abort(a);
    return status;
  }
  return MUPC_OK;
}

void mupc__atomic_abort(mupc__atomic *a) {
  if (a->fp) fclose(a->fp);
  a->fp = NULL;
  if (a->tmp) {
    unlink(a->tmp);
    free(a->tmp);
  }
  a->tmp = NULL;
}

/* Makes the rename itself durable. Best effort: the new file is already
 * complete and in place, and failing here could not restore the old one, so
 * an error (some file systems refuse to sync directories) is not reported. */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = NULL;
  if (!slash)
    dir = strdup(".");
  else if (slash == path)
    dir = strdup("/");
  else if ((dir = malloc((size_t)(slash - path) + 1)) != NULL) {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
  }
  if (!dir) return;
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

/* Flush, fsync and close: buffered writes surface a full disk only at the
 * flush, and fsync is what makes the data durable before the rename
 * publishes it. The FILE is closed whatever happens. */
static int finish_temporary(mupc__atomic *a) {
  errno = 0;
  int status = MUPC_OK;
  if (fflush(a->fp) != 0)
    status = mupc__write_fail(a->path, "write failed", errno);
  else if (fsync(fileno(a->fp)) != 0)
    status = mupc__write_fail(a->path, "fsync failed", errno);
  int rc = fclose(a->fp);
  a->fp = NULL;
  if (status == MUPC_OK && rc != 0) status = mupc__write_fail(a->path, "close failed", errno);
  return status;
}

int mupc__atomic_commit(mupc__atomic *a) {
  int status = finish_temporary(a);
  if (status == MUPC_OK && rename(a->tmp, a->path) != 0)
    status = mupc__write_fail(a->path, "cannot rename the temporary file onto it", errno);
  if (status != MUPC_OK) {
    mupc__atomic_abort(a);
    return status;
  }
  free(a->tmp);
  a->tmp = NULL;
  sync_parent_dir(a->path);
  return MUPC_OK;
}

int mupc__atomic_write(const char *path, const void *data, size_t n) {
  mupc__atomic a;
  int status = mupc__atomic_open(path, &a);
  if (status != MUPC_OK) return status;
  errno = 0;
  if (n > 0 && fwrite(data, 1, n, a.fp) != n) {
    status = mupc__write_fail(path, "write failed", errno);
    mupc__atomic_abort(&a);
    return status;
  }
  return mupc__atomic_commit(&a);
}
