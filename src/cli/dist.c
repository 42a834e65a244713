/* See dist.h. The one file of mupc that includes mpi.h. */
#include "dist.h"

#include "cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if MUPC_HAVE_MPI
#include <mpi.h>
#else /* one rank: the calls below that need MPI are never made */
typedef int MPI_Datatype, MPI_Op;
enum { MPI_FLOAT, MPI_DOUBLE, MPI_INT, MPI_SUM, MPI_MAX };
#endif

static int g_rank = 0, g_size = 1, g_local_rank = 0;
static int g_joined = 0; /* dist_init called MPI_Init */
static double g_reduce_s = 0.0;
static int g_saved_stderr = -1;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
int dist_local_rank(void) { return g_local_rank; }
double dist_allreduce_seconds(void) { return g_reduce_s; }

mupc_reduce dist_reduce(void) {
  return (mupc_reduce){g_rank, g_size, dist_sum_floats, dist_sum_doubles, NULL};
}

void dist_quiet_begin(void) {
  if (g_rank == 0 || g_saved_stderr >= 0) return;
  fflush(stderr);
  const int null = open("/dev/null", O_WRONLY);
  if (null < 0) return;
  g_saved_stderr = dup(STDERR_FILENO);
  if (g_saved_stderr >= 0) dup2(null, STDERR_FILENO);
  close(null);
}

void dist_quiet_end(void) {
  if (g_saved_stderr < 0) return;
  fflush(stderr);
  dup2(g_saved_stderr, STDERR_FILENO);
  close(g_saved_stderr);
  g_saved_stderr = -1;
}

/* A launcher sets one of these in every rank it starts; a process run by
 * hand has none, and then MPI is left alone (Open MPI's singleton start
 * spawns a runtime daemon, slow and sometimes impossible in a sandbox). */
static int launched_by_mpirun(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                     "MPI_LOCALNRANKS"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    if (getenv(vars[i])) return MUPC_HAVE_MPI;
  return 0;
}

void dist_init(void) {
#if MUPC_HAVE_MPI
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited || !launched_by_mpirun() || MPI_Init(NULL, NULL) != MPI_SUCCESS) return;
  g_joined = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  /* The ranks that share this machine's memory are the ones that share
   * its devices; this rank's index among them picks its device. */
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local) ==
      MPI_SUCCESS) {
    MPI_Comm_rank(local, &g_local_rank);
    MPI_Comm_free(&local);
  }
#else
  (void)launched_by_mpirun;
#endif
}

void dist_finalize(void) {
#if MUPC_HAVE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_joined && !finalized) MPI_Finalize();
#endif
  g_joined = 0;
}

static int reduce(void *v, size_t n, MPI_Datatype type, MPI_Op op) {
  if (g_size == 1) return MUPC_OK;
#if MUPC_HAVE_MPI
  /* MPI counts are int; a gradient larger than that goes in pieces. */
  const size_t chunk = (size_t)1 << 30;
  int elem = 0;
  MPI_Type_size(type, &elem);
  for (size_t off = 0; off < n; off += chunk) {
    const int count = (int)(n - off < chunk ? n - off : chunk);
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)v + off * (size_t)elem, count, type, op,
                      MPI_COMM_WORLD) != MPI_SUCCESS)
      return MUPC_EIO;
  }
#else
  (void)v, (void)n, (void)type, (void)op;
#endif
  return MUPC_OK;
}

int dist_sum_floats(float *v, size_t n, void *arg) {
  const double t0 = cli_seconds();
  const int rc = reduce(v, n, MPI_FLOAT, MPI_SUM);
  g_reduce_s += cli_seconds() - t0;
  return (void)arg, rc;
}

int dist_sum_doubles(double *v, size_t n, void *arg) {
  return (void)arg, reduce(v, n, MPI_DOUBLE, MPI_SUM);
}

int dist_max_int(int *v) { return reduce(v, 1, MPI_INT, MPI_MAX); }

void dist_abort(int code) {
  if (!g_joined || g_size == 1) return;
  fflush(stdout);
  fflush(stderr);
#if MUPC_HAVE_MPI
  MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#else
  (void)code;
#endif
}
