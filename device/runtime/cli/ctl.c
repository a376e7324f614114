/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmrt ctl: the control API for people.  A command table; each command
 * makes one or a few requests (device/ipc ctl.h), prints the answer as an
 * aligned table or, with --json, as JSON, and exits 0 ok, 1 failed,
 * 2 usage, 3 cannot reach the daemon.  Result codes become text in one
 * place (report()).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ipc/ctl.h"
#include "pl/pl.h"
#include "vmrt/runtime.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_NODAEMON 3
#define CTL_MAX_MODULE (IPC_CTL_FRAME_BIG - 64 * 1024)

typedef struct {
    pl_socket_t s;
    bool json;
    const char *sock;
    uint64_t next_id;
} ctl_t;

typedef struct {
    const char *name;
    int (*fn)(ctl_t *c, int argc, char **argv);
    int min_args;
    const char *args;
} ctl_cmd_t;

static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/*
 * report: print a response's failure (JSON or text).
 * Return: the exit status for it: 0 for OK, else EXIT_FAIL.
 */
static int
report(ctl_t *c, const ipc_ctl_resp_t *r, const char *what)
{
    if (c->json && r->code != IPC_CTL_OK) {
        printf("{\"ok\":false,\"code\":");
        json_str(stdout, ipc_ctl_code_name(r->code));
        printf(",\"message\":");
        json_str(stdout, r->message);
        printf("}\n");
    } else if (r->code != IPC_CTL_OK) {
        fprintf(stderr, "vmrt ctl: %s: %s (%s)\n", what,
                r->message[0] ? r->message : ipc_ctl_code_str(r->code),
                ipc_ctl_code_name(r->code));
    }
    return r->code == IPC_CTL_OK ? 0 : EXIT_FAIL;
}

/* Connect lazily, so that usage errors never need the daemon. */
static int
ctl_connect(ctl_t *c)
{
    int rc;

    if (c->s != PL_SOCKET_INVALID)
        return 0;
    if ((rc = ipc_ctl_connect(c->sock, &c->s)) != 0) {
        fprintf(stderr, "vmrt ctl: cannot reach the daemon at %s: %s\n",
                c->sock, pl_strerror(rc));
        return EXIT_NODAEMON;
    }
    return 0;
}

/*
 * call: one request/response.
 * Return: 0 with *r filled (check r->code), or an exit status (the
 * transport failed: reported here).
 */
static int
call(ctl_t *c, ipc_ctl_req_t *q, ipc_ctl_resp_t *r, size_t max)
{
    int rc;

    ipc_ctl_resp_init(r);
    if ((rc = ctl_connect(c)) != 0)
        return rc;
    q->id = ++c->next_id;
    if ((rc = ipc_ctl_call(c->s, q, r, max)) != 0) {
        fprintf(stderr, "vmrt ctl: lost the daemon: %s\n", pl_strerror(rc));
        ipc_ctl_resp_free(r);
        return rc == PL_EMSGSIZE ? EXIT_FAIL : EXIT_NODAEMON;
    }
    return 0;
}

static int
set_name(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n == 0 || n >= cap) {
        fprintf(stderr, "vmrt ctl: name '%s': must be 1..%zu characters\n",
                src, cap - 1);
        return EXIT_USAGE;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/*
 * dev_path: a file path the daemon can use, or "" to move the bytes
 * through the socket instead.  The daemon does not share our working
 * directory, so only absolute paths are passed on.
 */
static int
dev_path(char *dst, size_t cap, const char *path)
{
    dst[0] = '\0';
    if (path[0] != '/')
        return 0;
    if (strlen(path) >= cap) {
        fprintf(stderr, "vmrt ctl: path too long: %s\n", path);
        return EXIT_USAGE;
    }
    strcpy(dst, path);
    return 0;
}

/* Write bytes that came back instead of a daemon-side file. */
static int
save_local(const char *path, const ipc_ctl_resp_t *r)
{
    int rc = pl_file_write_atomic(path, r->data, r->len);

    if (rc != 0) {
        fprintf(stderr, "vmrt ctl: %s: %s\n", path, pl_strerror(rc));
        return EXIT_FAIL;
    }
    return 0;
}

static int
parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 0);
    if (*end != '\0' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* ---- commands ---------------------------------------------------------- */

static void
fmt_ms(char *buf, size_t len, uint64_t ms)
{
    if (ms < 10000)
        snprintf(buf, len, "%" PRIu64 "ms", ms);
    else if (ms < 600000)
        snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
    else if (ms < 36000000)
        snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
    else
        snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
}

static void
print_vms(ctl_t *c, const ipc_ctl_resp_t *r)
{
    char up[24], cpu[24];
    uint32_t i;

    if (c->json) {
        printf("[");
        for (i = 0; i < r->nvms; i++) {
            const vmrt_vm_info_t *v = &r->vms[i];

            printf("%s{\"name\":", i ? "," : "");
            json_str(stdout, v->name);
            printf(",\"state\":");
            json_str(stdout, ipc_ctl_state_name((int)v->state));
            printf(",\"version\":");
            json_str(stdout, v->version);
            printf(",\"priority\":%u,\"uptime_ms\":%" PRIu64
                   ",\"memory_bytes\":%" PRIu64 ",\"cpu_ms\":%" PRIu64
                   ",\"restarts\":%" PRIu32 ",\"exit_code\":%" PRId32
                   ",\"last_error\":",
                   (unsigned)v->priority, v->uptime_ms, v->memory_bytes,
                   v->cpu_ms, v->restarts, v->exit_code);
            json_str(stdout, v->last_error);
            printf("}");
        }
        printf("]\n");
        return;
    }
    printf("%-20s %-10s %-12s %4s %8s %10s %8s %8s\n", "NAME", "STATE",
           "VERSION", "PRIO", "UPTIME", "MEMORY", "CPU", "RESTARTS");
    for (i = 0; i < r->nvms; i++) {
        const vmrt_vm_info_t *v = &r->vms[i];

        fmt_ms(up, sizeof(up), v->uptime_ms);
        fmt_ms(cpu, sizeof(cpu), v->cpu_ms);
        printf("%-20s %-10s %-12s %4u %8s %9" PRIu64 "K %8s %8" PRIu32 "\n",
               v->name, ipc_ctl_state_name((int)v->state),
               v->version[0] ? v->version : "-", (unsigned)v->priority, up,
               v->memory_bytes / 1024, cpu, v->restarts);
        if (v->last_error[0] != '\0')
            printf("%-20s   last error: %s\n", "", v->last_error);
    }
}

static int
cmd_list(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    ipc_ctl_req_init(&q);
    if (argc > 1) {
        /* list NAME: one VM (its info). */
        if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0)
            return rc;
        q.op = IPC_CTL_OP_INFO;
    } else {
        q.op = IPC_CTL_OP_LIST;
    }
    if ((rc = call(c, &q, &r, IPC_CTL_FRAME_BIG)) != 0)
        return rc;
    if ((rc = report(c, &r, "list")) == 0)
        print_vms(c, &r);
    ipc_ctl_resp_free(&r);
    return rc;
}

/* A request naming one VM, answered by an ok or an error. */
static int
simple(ctl_t *c, ipc_ctl_req_t *q, const char *what)
{
    ipc_ctl_resp_t r;
    int rc;

    if ((rc = call(c, q, &r, IPC_CTL_FRAME_SMALL)) != 0)
        return rc;
    if ((rc = report(c, &r, what)) == 0) {
        if (c->json)
            printf("{\"ok\":true}\n");
    }
    ipc_ctl_resp_free(&r);
    return rc;
}

static int
cmd_lifecycle(ctl_t *c, int argc, char **argv)
{
    static const struct {
        const char *name;
        ipc_ctl_op_t op;
    } ops[] = {
        { "start", IPC_CTL_OP_START },     { "stop", IPC_CTL_OP_STOP },
        { "suspend", IPC_CTL_OP_SUSPEND }, { "resume", IPC_CTL_OP_RESUME },
        { "restart", IPC_CTL_OP_RESTART }, { "destroy", IPC_CTL_OP_DESTROY },
    };
    ipc_ctl_req_t q;
    size_t i;
    int rc;

    (void)argc;
    ipc_ctl_req_init(&q);
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(argv[0], ops[i].name) == 0)
            q.op = ops[i].op;
    if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0)
        return rc;
    return simple(c, &q, argv[0]);
}

static int
cmd_create(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    const char *module = NULL;
    uint8_t *bytes = NULL;
    uint32_t v;
    int i, rc;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_CREATE;
    q.has_manifest = true;
    vmrt_manifest_init(&q.manifest);
    if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0)
        return rc;
    memcpy(q.manifest.name, q.name, sizeof(q.name));
    for (i = 2; i < argc; i++) {
        const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "--") == 0) {
            for (i++; i < argc; i++) {
                if (q.manifest.nargs >= VMRT_MAX_ARGS ||
                    strlen(argv[i]) >= sizeof(q.manifest.args[0])) {
                    fprintf(stderr, "vmrt ctl: too many or too long "
                                    "program arguments\n");
                    return EXIT_USAGE;
                }
                strcpy(q.manifest.args[q.manifest.nargs++], argv[i]);
            }
            break;
        }
        if (a == NULL)
            goto usage;
        if (strcmp(o, "--module") == 0) {
            module = a;
        } else if (strcmp(o, "--priority") == 0) {
            if (parse_u32(a, VMRT_PRIO_LEVELS - 1, &v) != 0)
                goto bad;
            q.manifest.priority = (uint8_t)v;
        } else if (strcmp(o, "--memory-pages") == 0) {
            if (parse_u32(a, 65536, &v) != 0)
                goto bad;
            q.manifest.memory_pages = v;
        } else if (strcmp(o, "--slice-us") == 0) {
            if (parse_u32(a, UINT32_MAX, &v) != 0 || v == 0)
                goto bad;
            q.manifest.slice_us = v;
        } else if (strcmp(o, "--version") == 0) {
            if (set_name(q.manifest.version, sizeof(q.manifest.version),
                         a) != 0)
                return EXIT_USAGE;
        } else if (strcmp(o, "--restart") == 0) {
            if (strcmp(a, "on-failure") == 0)
                q.manifest.restart = VMRT_RESTART_ON_FAILURE;
            else if (strcmp(a, "never") == 0)
                q.manifest.restart = VMRT_RESTART_NEVER;
            else
                goto bad;
        } else {
            goto usage;
        }
        i++;
        continue;
bad:
        fprintf(stderr, "vmrt ctl: %s: bad value '%s'\n", o, a);
        return EXIT_USAGE;
    }
    if (module == NULL)
        goto usage;
    if (strlen(module) >= sizeof(q.manifest.module)) {
        fprintf(stderr, "vmrt ctl: module path too long\n");
        return EXIT_USAGE;
    }
    strcpy(q.manifest.module, module);
    if ((rc = pl_file_read_all(module, CTL_MAX_MODULE, &bytes, &q.len)) !=
        0) {
        fprintf(stderr, "vmrt ctl: %s: %s\n", module, pl_strerror(rc));
        return EXIT_FAIL;
    }
    q.data = bytes;
    rc = simple(c, &q, "create");
    pl_free_file(bytes);
    return rc;
usage:
    fprintf(stderr, "usage: vmrt ctl create NAME --module FILE.wasm "
                    "[--priority P] [--memory-pages N] [--slice-us N]\n"
                    "       [--version V] [--restart on-failure|never] "
                    "[-- ARGS...]\n");
    return EXIT_USAGE;
}

static int
cmd_snapshot(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *bytes = NULL;
    int rc;

    (void)argc;
    ipc_ctl_req_init(&q);
    q.op = strcmp(argv[0], "snapshot") == 0 ? IPC_CTL_OP_SNAPSHOT
                                            : IPC_CTL_OP_RESTORE;
    if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0 ||
        (rc = dev_path(q.path, sizeof(q.path), argv[2])) != 0)
        return rc;
    if (q.path[0] == '\0' && q.op == IPC_CTL_OP_SNAPSHOT) {
        q.want_bytes = true;
    } else if (q.path[0] == '\0') {
        rc = pl_file_read_all(argv[2], CTL_MAX_MODULE, &bytes, &q.len);
        if (rc != 0) {
            fprintf(stderr, "vmrt ctl: %s: %s%s\n", argv[2],
                    pl_strerror(rc),
                    rc == PL_EFBIG ? " (give an absolute path)" : "");
            return EXIT_FAIL;
        }
        q.data = bytes;
    }
    rc = call(c, &q, &r, q.want_bytes ? IPC_CTL_FRAME_BIG
                                      : IPC_CTL_FRAME_SMALL);
    pl_free_file(bytes);
    if (rc != 0)
        return rc;
    if ((rc = report(c, &r, argv[0])) == 0) {
        if (q.want_bytes)
            rc = save_local(argv[2], &r);
        if (rc == 0 && c->json)
            printf("{\"ok\":true}\n");
    }
    ipc_ctl_resp_free(&r);
    return rc;
}

/*
 * swap_query: ask for the VM's swap status into *state (and print it
 * unless quiet).  Return: 0 or an exit status.
 */
static int
swap_query(ctl_t *c, const char *name, bool quiet, int64_t *state)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SWAP_STATUS;
    if ((rc = set_name(q.name, sizeof(q.name), name)) != 0)
        return rc;
    if ((rc = call(c, &q, &r, IPC_CTL_FRAME_SMALL)) != 0)
        return rc;
    if ((rc = report(c, &r, "swap-status")) == 0) {
        *state = r.nvalues > 0 ? r.values[0] : VMRT_SWAP_NONE;
        if (!quiet && c->json) {
            printf("{\"ok\":true,\"state\":%" PRId64 ",\"status\":",
                   *state);
            json_str(stdout, r.message);
            printf("}\n");
        } else if (!quiet)
            printf("%s\n", r.message);
    }
    ipc_ctl_resp_free(&r);
    return rc;
}

static int
cmd_swap_status(ctl_t *c, int argc, char **argv)
{
    int64_t st;

    (void)argc;
    return swap_query(c, argv[1], false, &st);
}

/*
 * swap NAME FILE.wasm --version V [--health-ms N] [--snapshot] [--wait]:
 * with --wait, poll the status until the window ends; exit 0 if the new
 * image was committed, 1 if it was rolled back.
 */
static int
cmd_swap(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *bytes = NULL;
    bool wait = false;
    int64_t st = VMRT_SWAP_HEALTH;
    uint32_t v;
    int i, rc;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_STAGE;
    q.has_manifest = true;
    vmrt_manifest_init(&q.manifest);
    if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0)
        return rc;
    memcpy(q.manifest.name, q.name, sizeof(q.name));
    q.manifest.version[0] = '\0';
    for (i = 3; i < argc; i++) {
        const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(o, "--snapshot") == 0) {
            q.snapshot_before = true;
            continue;
        }
        if (strcmp(o, "--wait") == 0) {
            wait = true;
            continue;
        }
        if (a == NULL)
            goto usage;
        if (strcmp(o, "--version") == 0) {
            if (set_name(q.manifest.version, sizeof(q.manifest.version),
                         a) != 0)
                return EXIT_USAGE;
        } else if (strcmp(o, "--health-ms") == 0) {
            if (parse_u32(a, UINT32_MAX, &v) != 0) {
                fprintf(stderr, "vmrt ctl: %s: bad value '%s'\n", o, a);
                return EXIT_USAGE;
            }
            q.health_ms = v;
        } else {
            goto usage;
        }
        i++;
    }
    if (argc < 3 || q.manifest.version[0] == '\0')
        goto usage;
    if ((rc = pl_file_read_all(argv[2], CTL_MAX_MODULE, &bytes, &q.len)) !=
        0) {
        fprintf(stderr, "vmrt ctl: %s: %s\n", argv[2], pl_strerror(rc));
        return EXIT_FAIL;
    }
    q.data = bytes;
    rc = call(c, &q, &r, IPC_CTL_FRAME_SMALL);
    pl_free_file(bytes);
    if (rc != 0)
        return rc;
    rc = report(c, &r, "swap");
    ipc_ctl_resp_free(&r);
    if (rc != 0)
        return rc;
    if (!wait) {
        if (c->json)
            printf("{\"ok\":true}\n");
        return 0;
    }
    /* The window ends by itself (commit or rollback); poll for it. */
    while (st == VMRT_SWAP_HEALTH) {
        pl_sleep_ns(100000000);
        if ((rc = swap_query(c, argv[1], true, &st)) != 0)
            return rc;
    }
    if ((rc = swap_query(c, argv[1], false, &st)) != 0)
        return rc;
    return st == VMRT_SWAP_COMMITTED ? 0 : EXIT_FAIL;
usage:
    fprintf(stderr, "usage: vmrt ctl swap NAME FILE.wasm --version V "
                    "[--health-ms N] [--snapshot] [--wait]\n");
    return EXIT_USAGE;
}

static int
cmd_logs(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    bool follow = false;
    int i, rc;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_LOGS;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
            follow = true;
        else {
            fprintf(stderr, "usage: vmrt ctl logs NAME [--follow]\n");
            return EXIT_USAGE;
        }
    }
    if ((rc = set_name(q.name, sizeof(q.name), argv[1])) != 0)
        return rc;
    for (;;) {
        if ((rc = call(c, &q, &r, IPC_CTL_FRAME_SMALL)) != 0)
            return rc;
        if ((rc = report(c, &r, "logs")) != 0) {
            ipc_ctl_resp_free(&r);
            return rc;
        }
        if (r.len > 0) {
            fwrite(r.data, 1, r.len, stdout);
            fflush(stdout);
        }
        q.seq = r.next_seq;
        /* Following is polling: the ring is read from where we stopped. */
        if (r.len == 0) {
            ipc_ctl_resp_free(&r);
            if (!follow)
                return 0;
            pl_sleep_ns(200000000u);
            continue;
        }
        ipc_ctl_resp_free(&r);
    }
}

/* "10s", "500ms", "2m" or plain milliseconds. */
static int
parse_ms(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    if (end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        *out = v;
    else if (strcmp(end, "s") == 0)
        *out = v * 1000;
    else if (strcmp(end, "m") == 0)
        *out = v * 60000;
    else
        return -1;
    return *out <= UINT32_MAX ? 0 : -1;
}

static int
parse_i64(const char *s, int64_t *out)
{
    char *end;

    *out = strtoll(s, &end, 0);
    return end != s && *end == '\0' ? 0 : -1;
}

/*
 * cmd_dev: dev DEVICE [ACTION ARGS...].  Without an action a led's state
 * is read; `dev list` lists the devices.
 */
static int
cmd_dev(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    const char *act = argc > 2 ? argv[2] : NULL;
    const char *out_file = NULL;
    int rc, i;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_DEV;
    if (strcmp(argv[1], "list") == 0) {
        strcpy(q.action, "list");
    } else {
        if ((rc = set_name(q.device, sizeof(q.device), argv[1])) != 0)
            return rc;
        if (act == NULL || strcmp(act, "state") == 0 ||
            strcmp(act, "get") == 0) {
            /* A bare device name: leds answer their state, sensors their
             * reading. */
            strcpy(q.action, strncmp(argv[1], "temp", 4) == 0 ? "temp"
                                                              : "led");
        } else if (strcmp(act, "inject") == 0 && argc == 4) {
            strcpy(q.action, "inject");
            q.data = (uint8_t *)argv[3];
            q.len = strlen(argv[3]);
        } else if (strcmp(act, "read") == 0 && argc == 3) {
            strcpy(q.action, "read");
        } else if ((strcmp(act, "sine") == 0 || strcmp(act, "ramp") == 0) &&
                   argc == 6) {
            strcpy(q.action, act);
            if (parse_i64(argv[3], &q.args[0]) != 0 ||
                parse_i64(argv[4], &q.args[1]) != 0 ||
                parse_ms(argv[5], &q.args[2]) != 0)
                goto usage;
            q.nargs = 3;
        } else if (strcmp(act, "const") == 0 && argc == 4) {
            strcpy(q.action, "const");
            if (parse_i64(argv[3], &q.args[0]) != 0)
                goto usage;
            q.nargs = 1;
        } else if (strcmp(act, "dump") == 0 && argc == 4) {
            strcpy(q.action, "dump");
            out_file = argv[3];
            if ((rc = dev_path(q.path, sizeof(q.path), out_file)) != 0)
                return rc;
            q.want_bytes = q.path[0] == '\0';
        } else {
            goto usage;
        }
    }
    if ((rc = call(c, &q, &r, q.want_bytes ? IPC_CTL_FRAME_BIG
                                           : IPC_CTL_FRAME_SMALL)) != 0)
        return rc;
    if ((rc = report(c, &r, "dev")) == 0 && q.want_bytes) {
        rc = save_local(out_file, &r);
        if (rc == 0 && c->json)
            printf("{\"ok\":true}\n");
    } else if (rc == 0) {
        if (c->json) {
            printf("{\"ok\":true,\"values\":[");
            for (i = 0; i < (int)r.nvalues; i++)
                printf("%s%" PRId64, i ? "," : "", r.values[i]);
            printf("],\"data\":");
            /* Text devices: print as a string (NULs cannot appear in
             * it, so they are dropped). */
            {
                char *t = calloc(1, r.len + 1);

                if (t != NULL && r.len > 0)
                    memcpy(t, r.data, r.len);
                json_str(stdout, t != NULL ? t : "");
                free(t);
            }
            printf("}\n");
        } else if (strcmp(q.action, "list") == 0) {
            printf("%-12s %-6s %4s %6s %s\n", "DEVICE", "KIND", "IRQ", "OPEN",
                   "HOLDER");
            {
                char name[64], kind[16], holder[64];
                unsigned irq, nopen;
                char *t = calloc(1, r.len + 1), *line, *nl;

                if (t != NULL && r.len > 0)
                    memcpy(t, r.data, r.len);
                for (line = t; line != NULL && *line != '\0'; line = nl) {
                    if ((nl = strchr(line, '\n')) != NULL)
                        *nl++ = '\0';
                    if (sscanf(line, "%63s %15s %u %u %63s", name, kind, &irq,
                               &nopen, holder) == 5)
                        printf("%-12s %-6s %4u %6u %s\n", name, kind, irq,
                               nopen, holder);
                }
                free(t);
            }
        } else if (r.len > 0) {
            fwrite(r.data, 1, r.len, stdout);
        } else if (strcmp(q.action, "led") == 0 && r.nvalues > 0) {
            printf("%s: %s\n", q.device, r.values[0] ? "on" : "off");
        } else if (strcmp(q.action, "temp") == 0 && r.nvalues > 0) {
            printf("%s: %.3f C\n", q.device, (double)r.values[0] / 1000.0);
        } else if (strcmp(q.action, "inject") == 0 && r.nvalues > 0) {
            printf("%s: %" PRId64 " bytes accepted\n", q.device,
                   r.values[0]);
        }
    }
    ipc_ctl_resp_free(&r);
    return rc;
usage:
    fprintf(stderr,
            "usage: vmrt ctl dev list\n"
            "       vmrt ctl dev LED|TEMP [state]\n"
            "       vmrt ctl dev UART inject TEXT | read\n"
            "       vmrt ctl dev TEMP sine|ramp BASE AMPLITUDE PERIOD "
            "(mdeg C; 10s, 500ms)\n"
            "       vmrt ctl dev TEMP const BASE\n"
            "       vmrt ctl dev LCD dump FILE.ppm\n");
    return EXIT_USAGE;
}

static int
cmd_power(ctl_t *c, int argc, char **argv)
{
    ipc_ctl_req_t q;

    (void)argc;
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_POWER;
    if (strcmp(argv[1], "suspend-all") == 0)
        q.power = VMRT_POWER_SUSPEND_ALL;
    else if (strcmp(argv[1], "resume-all") == 0)
        q.power = VMRT_POWER_RESUME_ALL;
    else if (strcmp(argv[1], "shutdown") == 0)
        q.power = VMRT_POWER_SHUTDOWN;
    else {
        fprintf(stderr, "usage: vmrt ctl power suspend-all|resume-all|"
                        "shutdown\n");
        return EXIT_USAGE;
    }
    return simple(c, &q, "power");
}

/* events: print the runtime's events as they happen, until interrupted. */
static int
cmd_events(ctl_t *c, int argc, char **argv)
{
    static const char *const kinds[] = { "state",    "crash",    "restart",
                                         "watchdog", "rollback", "power",
                                         "swap" };
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    (void)argc;
    (void)argv;
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SUBSCRIBE;
    if ((rc = call(c, &q, &r, IPC_CTL_FRAME_SMALL)) != 0)
        return rc;
    rc = report(c, &r, "events");
    ipc_ctl_resp_free(&r);
    if (rc != 0)
        return rc;
    for (;;) {
        if (ipc_ctl_recv(c->s, &r, IPC_CTL_FRAME_SMALL) != 0) {
            ipc_ctl_resp_free(&r);
            return EXIT_NODAEMON;
        }
        if (r.has_event) {
            const vmrt_event_t *e = &r.event;
            const char *k = (unsigned)e->kind < 7 ? kinds[e->kind] : "?";

            if (c->json) {
                printf("{\"kind\":\"%s\",\"vm\":", k);
                json_str(stdout, e->vm);
                printf(",\"state\":\"%s\",\"detail\":",
                       ipc_ctl_state_name((int)e->state));
                json_str(stdout, e->detail);
                printf(",\"time_ms\":%" PRIu64 "}\n", e->time_ms);
            } else {
                printf("%" PRIu64 " %-8s %-20s %-10s %s\n", e->time_ms, k,
                       e->vm, ipc_ctl_state_name((int)e->state), e->detail);
            }
            fflush(stdout);
        }
        ipc_ctl_resp_free(&r);
    }
}

static const ctl_cmd_t ctl_cmds[] = {
    { "list", cmd_list, 0, "[NAME]" },
    { "create", cmd_create, 1,
      "NAME --module FILE.wasm [--priority P] [--memory-pages N] "
      "[--slice-us N] [--version V] [--restart on-failure] [-- ARGS...]" },
    { "start", cmd_lifecycle, 1, "NAME" },
    { "stop", cmd_lifecycle, 1, "NAME" },
    { "suspend", cmd_lifecycle, 1, "NAME" },
    { "resume", cmd_lifecycle, 1, "NAME" },
    { "restart", cmd_lifecycle, 1, "NAME" },
    { "destroy", cmd_lifecycle, 1, "NAME" },
    { "snapshot", cmd_snapshot, 2, "NAME FILE" },
    { "restore", cmd_snapshot, 2, "NAME FILE" },
    { "logs", cmd_logs, 1, "NAME [--follow]" },
    { "dev", cmd_dev, 1, "list | DEVICE [ACTION ARGS...]" },
    { "power", cmd_power, 1, "suspend-all|resume-all|shutdown" },
    { "events", cmd_events, 0, "" },
    { "swap", cmd_swap, 2,
      "NAME FILE.wasm --version V [--health-ms N] [--snapshot] [--wait]" },
    { "swap-status", cmd_swap_status, 1, "NAME" },
};

static void
ctl_usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: vmrt ctl [--socket PATH] [--json] COMMAND ...\n\n"
               "commands:\n");
    for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
        fprintf(f, "  %s %s\n", ctl_cmds[i].name, ctl_cmds[i].args);
    fprintf(f, "\nThe socket defaults to $VMRT_SOCKET, else %s/vmrt.sock.\n"
               "Exit status: 0 ok, 1 failed, 2 usage, 3 cannot reach the "
               "daemon.\n",
            CLI_DEFAULT_STATE_DIR);
}

int
cli_ctl(int argc, char **argv)
{
    ctl_t c;
    const char *env = getenv("VMRT_SOCKET");
    size_t k;
    int i, rc;

    memset(&c, 0, sizeof(c));
    c.s = PL_SOCKET_INVALID;
    c.sock = env != NULL && env[0] != '\0'
                 ? env
                 : CLI_DEFAULT_STATE_DIR "/vmrt.sock";
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c.json = true;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            c.sock = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            ctl_usage(stdout);
            return 0;
        } else {
            ctl_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        ctl_usage(stderr);
        return EXIT_USAGE;
    }
    /* `--json` may also follow the command: `vmrt ctl list --json`. */
    for (k = 0; k < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); k++) {
        char **av = argv + i;
        int ac = argc - i, j, n = 0;

        if (strcmp(av[0], ctl_cmds[k].name) != 0)
            continue;
        for (j = 0; j < ac; j++) {
            if (strcmp(av[j], "--") == 0) {
                for (; j < ac; j++)
                    av[n++] = av[j];
                break;
            }
            if (j > 0 && strcmp(av[j], "--json") == 0)
                c.json = true;
            else
                av[n++] = av[j];
        }
        ac = n;
        if (ac - 1 < ctl_cmds[k].min_args) {
            fprintf(stderr, "usage: vmrt ctl %s %s\n", ctl_cmds[k].name,
                    ctl_cmds[k].args);
            return EXIT_USAGE;
        }
        rc = ctl_cmds[k].fn(&c, ac, av);
        if (c.s != PL_SOCKET_INVALID)
            pl_sock_close(c.s);
        return rc;
    }
    fprintf(stderr, "vmrt ctl: unknown command '%s'\n", argv[i]);
    ctl_usage(stderr);
    return EXIT_USAGE;
}
