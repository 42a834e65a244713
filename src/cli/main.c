/* mupc <command> [flags]: finds the subcommand in CLI_COMMANDS and runs it. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
#define CLI__ROW(name, summary) {#name, summary, cli_##name},
    CLI_COMMANDS(CLI__ROW)
#undef CLI__ROW
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fputs("usage: mupc <command> [flags]\n"
        "       mupc help [command] | --help | --version\n\n"
        "μPC predictive-coding networks on any OpenCL device.\n\n"
        "commands:\n",
        f);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\n'mupc help <command>' or 'mupc <command> --help' describes a command's flags.\n"
        "A device is chosen by --device SPEC or, without it, MUPC_DEVICE: P:D, cpu,\n"
        "gpu, or part of the platform name, platform vendor or device name.\n",
        f);
}

/* The command called name, or NULL after a line that lists them all. */
static const command *find(const char *name) {
  char names[256] = "";
  for (size_t i = 0, used = 0; i < NCOMMANDS; i++) {
    if (!strcmp(commands[i].name, name)) return &commands[i];
    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                             commands[i].name);
  }
  cli_error(CLI_EXIT_USAGE, NULL, "unknown %s '%s' (commands: %s; see 'mupc --help')",
            name[0] == '-' ? "option" : "command", name, names);
  return NULL;
}

/* Runs cmd with argv[1 …]; argv[0] is replaced by "mupc <cmd>". */
static int run_command(const command *cmd, int argc, char **argv) {
  char argv0[64];
  snprintf(argv0, sizeof argv0, "mupc %s", cmd->name);
  argv[0] = argv0;
  optind = 1;
  /* The subcommand reports a refused flag itself (cli_bad_flag), in
   * mupc's one-line form with a suggestion, instead of getopt's message. */
  opterr = 0;
  return cmd->run(argc, argv);
}

/* mupc help [command]: the overview, or what 'mupc <command> --help' prints. */
static int help_command(int argc, char **argv) {
  if (argc == 2 || (argc == 3 && !strcmp(argv[2], "help"))) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc > 3)
    return cli_error(CLI_EXIT_USAGE, "help",
                     "unexpected argument '%s' (usage: mupc help [command])", argv[3]);
  const command *cmd = find(argv[2]);
  if (!cmd) return CLI_EXIT_USAGE;
  char flag[] = "--help";
  char *args[] = {argv[2], flag, NULL};
  return run_command(cmd, 2, args);
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (!strcmp(name, "help")) return help_command(argc, argv);
  if (!strcmp(name, "--version")) {
    printf("mupc %s\n", MUPC_VERSION);
    return CLI_EXIT_OK;
  }
  const command *cmd = find(name);
  if (!cmd) return CLI_EXIT_USAGE;
  return run_command(cmd, argc - 1, argv + 1);
}

int main(int argc, char **argv) {
  int code = dispatch(argc, argv);
  /* A full disk or closed pipe on stdout must not pass as success. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    int err = errno;
    cli_error(CLI_EXIT_FAIL, NULL, "writing the output failed: %s", strerror(err));
    if (code == CLI_EXIT_OK) code = CLI_EXIT_FAIL;
  }
  return code;
}
