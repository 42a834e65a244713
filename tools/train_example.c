/* Trains a μPC network on Fashion-MNIST with libmupc's trainer, as any
 * program linking the library can: load the data, build the net, train with
 * a progress callback, evaluate, save. The jpc example network (the
 * library's defaults); the device is MUPC_DEVICE's, else the default one.
 * Usage: train_example [DATA_DIR [STEPS [OUT.safetensors]]] */
#include "mupc.h"

#include <stdio.h>
#include <stdlib.h>

static int progress(const mupc_train_metrics *m, void *arg) {
  (void)arg;
  if (m->step % 100 == 0) printf("step %lld: train loss %.4f\n", (long long)m->step, m->train_loss);
  return 0; /* non-zero would stop the run */
}

int main(int argc, char **argv) {
  mupc_train_opts o = mupc_train_default_opts(); /* 1500 steps, (x/255 - 0.5)/0.5 */
  if (argc > 1) snprintf(o.data_dir, sizeof o.data_dir, "%s", argv[1]);
  if (argc > 2) o.steps = atoll(argv[2]);
  const char *out = argc > 3 ? argv[3] : "fashion-mnist.safetensors";
  mupc_dataset train = {0}, test = {0};
  mupc_ctx *ctx = NULL;
  mupc_net *net = NULL;
  mupc_trainer *tr = NULL;
  mupc_eval_result ev;
  int st = mupc_dataset_load(o.data_dir, 1, &o.data, &train);
  if (!st) st = mupc_dataset_load(o.data_dir, 0, &o.data, &test);
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = train.dim; /* 784 pixels, 10 classes for Fashion-MNIST */
  p.output_dim = train.classes;
  if (!st) st = mupc_ctx_init(&ctx, NULL);
  if (!st) st = mupc_net_init(&net, ctx, &p);
  if (!st) st = mupc_trainer_init(&tr, net, &train, &test, &o);
  if (!st) st = mupc_trainer_run(tr, progress, NULL);
  if (!st) st = mupc_trainer_evaluate(tr, NULL, &ev);
  if (!st) st = mupc_trainer_save(tr, out);
  if (!st)
    printf("test accuracy %.2f%% (loss %.4f) after %lld steps; saved to %s\n", 100 * ev.acc,
           ev.loss, (long long)mupc_trainer_position(tr), out);
  else
    fprintf(stderr, "train_example: %s (%s)\n", mupc_errmsg(), mupc_strerror(st));
  mupc_trainer_free(tr);
  mupc_net_free(net);
  mupc_ctx_free(ctx);
  mupc_dataset_free(&train);
  mupc_dataset_free(&test);
  return st ? 1 : 0;
}
