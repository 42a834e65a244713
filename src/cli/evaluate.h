/* Data and test-set evaluation shared by `mupc train` and `mupc eval`. */
#ifndef MUPC_CLI_EVALUATE_H
#define MUPC_CLI_EVALUATE_H

#include "mupc.h"

#include <stddef.h>

#define DATA_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define DATA_DEFAULT_MEAN 0.5f
#define DATA_DEFAULT_STD 0.5f

/* The data flags shared by train and compare (help text and parsers). */
#define DATA_FLAGS_HELP                                                                            \
  "  --format F            auto (default: by the files in DIR), idx, cifar10, cifar100\n"          \
  "                        or tensors (README, \"Data\")\n"                                        \
  "  --label L             CIFAR-100: fine (100 classes, default) or coarse (20)\n"                \
  "  --classes N           class count (default: from the data)\n"                                 \
  "  --norm M,S            values become (x/255 - M)/S, F32 tensors (x - M)/S; per channel:\n"     \
  "                        --norm M1,...,Mc,S1,...,Sc (default 0.5,0.5)\n"

/* Default data options: AUTO format, fine labels, --norm 0.5,0.5. */
mupc_data_opts data_default_opts(void);
int data_parse_format(const char *cmd, const char *text, mupc_data_opts *o);
int data_parse_label(const char *cmd, const char *text, mupc_data_opts *o);
/* "M,S" or "M1,…,Mc,S1,…,Sc". */
int data_parse_norm(const char *cmd, const char *text, mupc_data_opts *o);
/* The means then the stds, comma-separated, as --norm takes them. */
void data_norm_text(const mupc_data_opts *o, char *dst, size_t n);
/* The format o names, AUTO resolved from dir's files. */
int data_resolve_format(const char *cmd, const char *flag, const char *dir, mupc_data_opts *o);

typedef struct eval_result {
  double acc;  /* fraction of samples with argmax ŷ == label */
  double loss; /* ½·mean‖y − ŷ‖² (mse) or −mean log p(label) (ce) */
  int count;
} eval_result;

/* Loads the training (train = 1) or test split of dir. On failure prints
 * one line naming `flag` and the file, and returns a CLI exit code. */
int data_load(const char *cmd, const char *flag, const char *dir, int train,
              const mupc_data_opts *o, mupc_dataset *out);
/* Both splits: the test set's labels checked against the training set's
 * class count (o->classes if given), the sample sizes against each other. */
int data_load_both(const char *cmd, const char *flag, const char *dir, const mupc_data_opts *o,
                   mupc_dataset *train, mupc_dataset *test);

/* Feedforward prediction of the whole set. A library status; the caller
 * reports it. */
int eval_dataset(mupc_net *net, const mupc_dataset *d, eval_result *out);

/* The same over samples first … first + n - 1 only, as sums (correct
 * predictions, loss), so that shards evaluated by several ranks add up to
 * the whole set's result. */
int eval_sums(mupc_net *net, const mupc_dataset *d, int first, int n, double *correct,
              double *loss);

#endif
