/*
 * command_hook.c - runs the alert command (see hooks.h): /bin/sh -c COMMAND with this
 * process's environment plus SP_ALERT_<FIELD> for each top-level field of the
 * transition's JSON (strings as they are, numbers as printed by jansson) and
 * SP_ALERT_JSON. posix_spawn, then waitpid polled until command_timeout_ms, then
 * SIGKILL. Exit status 0 is success; anything else is a failure (not retried: a
 * command may have done half its work).
 */
#include "supportpulse/hooks.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "supportpulse/clock.h"

extern char **environ;

/* "SP_ALERT_<KEY>=<value>" for one field; NULL when out of memory. */
static char *env_entry(const char *key, json_t *v)
{
    char *text = json_is_string(v) ? strdup(json_string_value(v))
                                   : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return NULL;
    size_t n = strlen(key) + strlen(text) + 16;
    char *e = malloc(n);
    if (e) {
        int k = snprintf(e, n, "SP_ALERT_");
        for (const char *p = key; *p; p++)
            e[k++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
        snprintf(e + k, n - (size_t)k, "=%s", text);
    }
    free(text);
    return e;
}

static void free_env(char **env, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        free(env[i]);
    free(env);
}

/* environ + the alert's variables; the added entries start at *first. */
static char **build_env(const char *json, size_t *first, size_t *n)
{
    json_t *root = json_loads(json, 0, NULL);
    size_t base = 0;
    while (environ[base])
        base++;
    size_t extra = root ? json_object_size(root) + 1 : 1;
    char **env = calloc(base + extra + 1, sizeof *env);
    if (!env) {
        json_decref(root);
        return NULL;
    }
    memcpy(env, environ, base * sizeof *env);
    *first = *n = base;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
        if (!(env[(*n)++] = env_entry(key, v)))
            goto nomem;
    json_t *whole = json_string(json);
    env[*n] = whole ? env_entry("json", whole) : NULL;
    json_decref(whole);
    if (!env[(*n)++])
        goto nomem;
    json_decref(root);
    return env;
nomem:
    json_decref(root);
    free_env(env, base, *n);
    return NULL;
}

/* Waits for pid up to timeout_ms; kills it past that. Its wait status, or -1. */
static int wait_for(pid_t pid, int64_t timeout_ms, int *killed)
{
    int64_t deadline = sp_mono_ms() + timeout_ms;
    int status;
    *killed = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (sp_mono_ms() >= deadline && !*killed) {
            kill(pid, SIGKILL);
            *killed = 1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

sp_hook_result sp_command_run(const sp_hooks_conf *c, const char *json, char *errstr,
                              size_t errstr_size)
{
    size_t first, n;
    char **env = build_env(json, &first, &n);
    if (!env) {
        snprintf(errstr, errstr_size, "out of memory");
        return SP_HOOK_FAILED;
    }
    char *argv[] = {"sh", "-c", (char *)c->command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, env);
    free_env(env, first, n);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "cannot start /bin/sh: %s", strerror(rc));
        return SP_HOOK_FAILED;
    }
    int killed, status = wait_for(pid, c->command_timeout_ms, &killed);
    if (killed) {
        snprintf(errstr, errstr_size, "killed after %lld ms", (long long)c->command_timeout_ms);
        return SP_HOOK_FAILED;
    }
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(errstr, errstr_size, status >= 0 && WIFEXITED(status) ? "exit status %d"
                                                                     : "ended by signal %d",
                 status < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return SP_HOOK_FAILED;
    }
    return SP_HOOK_OK;
}
