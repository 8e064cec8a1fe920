/*
 * commands.h - the subcommands of the supportpulse binary (one file each in app/).
 * Each returns the process exit status; only main() exits.
 */
#ifndef SUPPORTPULSE_COMMANDS_H
#define SUPPORTPULSE_COMMANDS_H

int sp_cmd_run(int argc, char **argv, char **envp);
int sp_cmd_gen(int argc, char **argv);
int sp_cmd_mock_kafka(int argc, char **argv);
int sp_cmd_demo(int argc, char **argv, char **envp);
int sp_cmd_forecast(int argc, char **argv);
int sp_cmd_staffing(int argc, char **argv);
int sp_cmd_rules(int argc, char **argv);
int sp_cmd_alerts(int argc, char **argv);
/* supportpulse dump: a prefix's canonical dump (publishers/prefix_dump.h). */
int sp_cmd_dump(int argc, char **argv);

/* Shared by the subcommands: parse "--name value"/"--name=value" at argv[*i]. Returns
 * the value and advances *i, or NULL when argv[*i] is not --name. */
const char *sp_flag(int argc, char **argv, int *i, const char *name);
/* Parses an integer / a number for a flag, printing "name: ..." on error. 0 or -1. */
int sp_flag_int(const char *name, const char *v, long long lo, long long hi, long long *out);
int sp_flag_double(const char *name, const char *v, double lo, double hi, double *out);

/* SIGINT/SIGTERM set this flag; a second signal exits at once. */
void sp_install_signals(void (*on_stop)(void *), void *arg);

#endif
