/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_REMOTE_H
#define VMCTL_REMOTE_H

/*
 * vmctl's remote commands: those that talk to vmctld's HTTP API
 * (docs/api.md).  remote.c holds the shared machinery (a context per
 * command, one request with its error reporting, following a command to
 * its end) and the device, VM, snapshot, command and package commands;
 * rollout.c holds `update` and `rollout`.  Every command function takes
 * the global options and its own argv (argv[0] is the command's name)
 * and returns the exit status.  Single-threaded.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "conf.h"
#include "json.h"
#include "out.h"

/* Exit statuses, documented in `vmctl --help` and docs/operations.md. */
#define VMCTL_EXIT_OK 0
#define VMCTL_EXIT_FAIL 1    /* failed: server error, command failed... */
#define VMCTL_EXIT_USAGE 2   /* bad flags or missing arguments */
#define VMCTL_EXIT_PARTIAL 3 /* a rollout ended with some devices
                                succeeded and some failed */

#define VMCTL_REPLY_MAX (64u * 1024 * 1024) /* a JSON reply, at most */

/** A command's help: its usage line(s) and the text after them. */
typedef struct vmctl_help {
    const char *name;    /* "vm" */
    const char *usage;   /* "vmctl vm ls DEV\n       vmctl vm ..." */
    const char *text;    /* options and notes, or "" */
} vmctl_help_t;

/** One remote command's run: its settings and connection. */
typedef struct vmctl_ctx {
    const vmctl_globals_t *g;
    const vmctl_help_t *help;
    char name[48];             /* "vm start", for messages */
    vmctl_conf_t conf;
    vmctl_http_t *http;
    bool tty;                  /* stderr is a terminal: progress bars */
    const char *progress_label;
} vmctl_ctx_t;

/** A reply: the raw body (printed as-is by --json) and its parse. */
typedef struct vmctl_reply {
    long status;
    char *raw;                 /* NUL-terminated; owned */
    size_t len;
    vmctl_json_t *doc;         /* NULL for an empty body (204) */
} vmctl_reply_t;

/**
 * Start a command's context without any I/O (usage errors come first).
 * @param help borrowed; `name` ("vm start") is copied.
 */
void vmctl_ctx_init(vmctl_ctx_t *c, const vmctl_globals_t *g,
                    const vmctl_help_t *help, const char *name);

/**
 * Resolve the settings (conf.h) and connect.
 * @return 0, or VMCTL_EXIT_FAIL (reported on stderr).
 */
int vmctl_ctx_open(vmctl_ctx_t *c);

/** Close the connection.  Safe after a failed open. */
void vmctl_ctx_close(vmctl_ctx_t *c);

/**
 * Print "vmctl NAME: MESSAGE", then the command's usage, on stderr.
 * @return VMCTL_EXIT_USAGE.
 */
int vmctl_usage_error(const vmctl_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Print "vmctl NAME: MESSAGE" on stderr.  @return VMCTL_EXIT_FAIL. */
int vmctl_fail(const vmctl_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * One request with a JSON body (or none) and a JSON reply.  Every error
 * is reported here: no answer (what to do next), an HTTP error (the
 * API's code as text; with --json the error document goes to stdout
 * too), a reply that is not JSON.
 * @param path already escaped (vmctl_path()).
 * @param body borrowed; NULL for none.
 * @param r filled on success (clear with vmctl_reply_clear()).
 * @return 0, or VMCTL_EXIT_FAIL.
 */
int vmctl_call(vmctl_ctx_t *c, const char *method, const char *path,
               const vmctl_json_t *body, vmctl_reply_t *r);

/** As vmctl_call() with raw bytes (a package upload). */
int vmctl_call_raw(vmctl_ctx_t *c, const char *method, const char *path,
                   const char *ctype, const void *body, size_t len,
                   unsigned wait_s, vmctl_reply_t *r);

/** Free a reply.  Safe on a zeroed or cleared one. */
void vmctl_reply_clear(vmctl_reply_t *r);

/** Print the reply's body as-is on stdout (--json), with a final
 *  newline. */
void vmctl_reply_print(const vmctl_reply_t *r);

/**
 * Build a path: `fmt` with "%s" only, each argument percent-encoded.
 * @return 0, or -1 if it does not fit.
 */
int vmctl_path(char *out, size_t len, const char *fmt, ...);

#define VMCTL_COUNT_MAX 1000000u

/**
 * A count for --batch or --max-failures: "N" (min..VMCTL_COUNT_MAX) or
 * "P%" (min..100).
 * @return 0 with *n and *pct, or -1.
 */
int vmctl_parse_count(const char *s, uint32_t min, uint32_t *n, bool *pct);

/**
 * Follow a command (the reply of the request that queued it) to its
 * final state when `wait`, printing its progress and result; with --json
 * the last document only.  A command queued for an offline device is
 * reported as such.
 * @param r the queuing reply; replaced by the last one read.
 * @return VMCTL_EXIT_OK (succeeded, or queued/sent without wait),
 *         VMCTL_EXIT_FAIL (failed, expired..., or still not final at
 *         --timeout).
 */
int vmctl_follow_command(vmctl_ctx_t *c, vmctl_reply_t *r, bool wait);

/**
 * A package argument: a .vpk file (checked locally, uploaded with a
 * progress bar on a terminal) or the SHA-256 of a stored package.
 * @param want_vm if not NULL, the package must be for this VM.
 * @param sha receives the stored package's SHA-256 (65 bytes).
 * @param vm receives its VM name (may be NULL).
 * @return 0, VMCTL_EXIT_FAIL or VMCTL_EXIT_USAGE (reported).
 */
int vmctl_package_arg(vmctl_ctx_t *c, const char *arg, const char *want_vm,
                      char *sha, char *vm, size_t vmlen);

/** An option of a command: a flag, a value (the last one given wins) or
 *  a repeatable value (up to `max`). */
typedef struct vmctl_opt {
    const char *name;          /* "--label" */
    bool *flag;
    const char **value;
    const char **list;
    size_t *nlist;
    size_t max;
} vmctl_opt_t;

/**
 * Parse argv[first..] against `opts`, collecting the rest as positional
 * arguments into pos[] (between minpos and maxpos of them).
 * @return 0; -1 after --help (printed on stdout: the caller exits 0);
 *         or VMCTL_EXIT_USAGE (reported, with the usage).
 */
int vmctl_args(const vmctl_ctx_t *c, int argc, char **argv, int first,
               const vmctl_opt_t *opts, size_t nopts, const char **pos,
               size_t minpos, size_t maxpos, size_t *npos);

/** Print a command's help (usage, text, global options, exit codes). */
void vmctl_help_print(const vmctl_help_t *h, FILE *f);

/** Whether `s` is all lowercase or uppercase hex digits. */
bool vmctl_is_hex(const char *s);

/** Member `key` of object `o` as an integer; 0 if missing or not one. */
int64_t vmctl_jint(const vmctl_json_t *o, const char *key);

/** Member `key` of object `o` as a string, borrowed from `o`; "" if
 *  missing or not one. */
const char *vmctl_jstr(const vmctl_json_t *o, const char *key);

/** One table row's cells for an element of a list reply (the row is
 *  started).  @return 0, or non-zero when out of memory. */
typedef int (*vmctl_row_fn)(vmctl_table_t *t, const vmctl_json_t *item);

/**
 * A list command's request and output: connect, GET `path` and print the
 * reply's array member `key` as a table (columns `hdr`, borrowed; one row
 * per element by `row`), "no KEY" when it is empty, or the raw reply with
 * --json.
 * @return 0, or VMCTL_EXIT_FAIL (reported).
 */
int vmctl_list(vmctl_ctx_t *c, const char *path, const char *key,
               const char *const *hdr, size_t ncols, vmctl_row_fn row);


/* The commands (the table is in vmctl.c). */
int vmctl_cmd_info(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_devices(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_device(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_vm(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_snapshot(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_snapshots(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_restore(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_command(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_package(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_update(const vmctl_globals_t *g, int argc, char **argv);
int vmctl_cmd_rollout(const vmctl_globals_t *g, int argc, char **argv);

/* rollout.c's help, for vmctl_remote_help(). */
extern const vmctl_help_t vmctl__help_update;
extern const vmctl_help_t vmctl__help_rollout;

/** The help of the remote commands, for `vmctl CMD --help`.
 *  @return the entry, or NULL. */
const vmctl_help_t *vmctl_remote_help(const char *name);

#endif /* VMCTL_REMOTE_H */
