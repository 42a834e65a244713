/* Data and test-set evaluation shared by `mupc train` and `mupc eval`. */
#ifndef MUPC_CLI_EVALUATE_H
#define MUPC_CLI_EVALUATE_H

#include "mupc.h"

/* Every data set mupc reads has ten classes (MNIST, Fashion-MNIST). */
#define DATA_CLASSES 10
#define DATA_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct eval_result {
  double acc;  /* fraction of samples with argmax ŷ == label */
  double loss; /* ½·mean‖y − ŷ‖² (mse) or −mean log p(label) (ce) */
  int count;
} eval_result;

/* Loads the training (train = 1) or test split of dir, labels checked to be
 * < classes. On failure prints one line naming `flag` and the file, and
 * returns a CLI exit code. */
int data_load(const char *cmd, const char *flag, const char *dir, int train, int classes,
              float mean, float std, mupc_dataset *out);

/* Feedforward prediction of the whole set. A library status; the caller
 * reports it. */
int eval_dataset(mupc_net *net, const mupc_dataset *d, eval_result *out);

/* The same over samples first … first + n - 1 only, as sums (correct
 * predictions, loss), so that shards evaluated by several ranks add up to
 * the whole set's result. */
int eval_sums(mupc_net *net, const mupc_dataset *d, int first, int n, double *correct,
              double *loss);

#endif
