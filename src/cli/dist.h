/* Data-parallel runs under mpirun: which rank this process is, the sums a
 * trainer's mupc_reduce needs, and stopping every rank when one fails.
 *
 * All of MPI lives in dist.c. Built without MPI (-Dmpi=disabled, or no MPI
 * found), or started without mpirun, every function here is the
 * single-rank no-op: rank 0 of 1, reductions leave their input as it is,
 * so callers need no #ifdef. */
#ifndef MUPC_CLI_DIST_H
#define MUPC_CLI_DIST_H

#include "mupc.h"

/* Joins the MPI job when this process was started by mpirun (Open MPI's,
 * or any PMI/PMIx launcher); otherwise stays a single rank without ever
 * calling MPI_Init, so a plain `mupc train` does not depend on an MPI
 * runtime being usable. dist_finalize: MPI_Finalize if it joined. */
void dist_init(void);
void dist_finalize(void);

int dist_rank(void);
int dist_size(void);
int dist_local_rank(void); /* among the ranks on this machine: its device */

/* In place, over every rank: the sum of v (mupc_reduce's callbacks, arg
 * unused), the largest int. MUPC_OK or MUPC_EIO (MPI's default error
 * handler usually aborts the job before that can happen). */
int dist_sum_floats(float *v, size_t n, void *arg);
int dist_sum_doubles(double *v, size_t n, void *arg);
int dist_max_int(int *v);
/* This process's place in the job and the sums above, for a trainer. */
mupc_reduce dist_reduce(void);
/* Seconds spent in dist_sum_floats so far (the gradient all-reduce). */
double dist_allreduce_seconds(void);

/* A rank that failed on its own (device, file) ends the whole job with
 * MPI_Abort, after its one-line error is out; the other ranks may be
 * waiting in a collective and would hang otherwise. Single rank: returns
 * and the caller exits normally with `code`. */
void dist_abort(int code);

/* Silence stderr on ranks other than 0 between begin and end (flag errors
 * every rank would print identically). Nesting is not supported. */
void dist_quiet_begin(void);
void dist_quiet_end(void);

#endif
