/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmrt: the device runtime's command-line front end.  A command table
 * (like vmctl's) so that later commands (ctl, daemon) are one row each.
 *
 *   vmrt run [OPTIONS] MODULE.wasm [ARGS...]
 *
 * runs a WASI command's _start, or with --invoke an export with numeric
 * arguments, in fuel slices; a sleeping guest (poll_oneoff) blocks the run
 * and the loop sleeps until vmrt_wasi_wake_time().
 *
 * With --stop-after FUEL --save FILE the run stops at the first slice
 * boundary (a yield, or a host call that blocked) after FUEL units and
 * writes a snapshot; --restore FILE resumes such a run in a new process.
 */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pl/pl.h"
#include "vmrt/vmrt.h"
#include "vmrt/wasi.h"

#ifndef VMF_VERSION
#define VMF_VERSION "0.1.0"
#endif

/* Exit statuses besides the program's own. */
#define EXIT_USAGE 2
#define EXIT_CANNOT_RUN 125
#define EXIT_TRAP 134

#define CLI_MAX_MODULE (256u * 1024 * 1024)
/* A snapshot holds at most 4 GiB of memory plus stacks and tables. */
#define CLI_MAX_SNAPSHOT                                                     \
    (SIZE_MAX < 0x200000000ull ? SIZE_MAX : (size_t)0x200000000ull)
#define CLI_DEFAULT_FUEL 1000000ull
#define CLI_ERRLEN 256

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;
    const char *help;
} cli_cmd_t;

static int cmd_run(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const cli_cmd_t cli_cmds[] = {
    { "run", cmd_run, "[OPTIONS] MODULE.wasm [ARGS...]",
      "run a WASI command (or, with --invoke, one export)" },
    { "daemon", cli_daemon,
      "[--config FILE] [--state-dir DIR] [--workers N] [--socket PATH] [-n]",
      "run the VM runtime as a service (vmrt daemon --help)" },
    { "ctl", cli_ctl, "[--socket PATH] [--json] COMMAND ...",
      "control a running daemon (vmrt ctl --help)" },
    { "help", cmd_help, "", "show this help" },
    { "version", cmd_version, "", "show the version" },
};

static void
usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: vmrt COMMAND [ARGS...]\n\ncommands:\n");
    for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
        fprintf(f, "  %s %s\n      %s\n", cli_cmds[i].name, cli_cmds[i].args,
                cli_cmds[i].help);
    fprintf(f,
            "\nrun options (before MODULE; everything after MODULE goes to "
            "the program):\n"
            "  --invoke NAME       call export NAME with ARGS as numbers "
            "(i32/i64:\n"
            "                      decimal or 0x hex; f32/f64: decimal, inf, "
            "nan)\n"
            "                      and print its results, one per line\n"
            "  --env NAME=VALUE    add to the program's environment "
            "(repeatable;\n"
            "                      nothing of vmrt's own environment is "
            "passed)\n"
            "  --dir PATH          give the program PATH as its root "
            "directory \"/\"\n"
            "                      (files outside it are refused with "
            "EPERM)\n"
            "  --quota BYTES       with --dir: the most bytes its files "
            "may hold\n"
            "                      (writes past it fail with ENOSPC)\n"
            "  --fuel N            fuel per run slice (default %llu)\n"
            "  --max-pages N       cap every linear memory at N 64 KiB "
            "pages\n"
            "  --stop-after FUEL   stop once about FUEL fuel units are used "
            "(at the\n"
            "                      first yield or blocked host call after "
            "that),\n"
            "                      write the --save snapshot and exit 0; "
            "a program\n"
            "                      that ends first exits as usual and "
            "saves nothing\n"
            "  --save FILE         where --stop-after writes the snapshot "
            "(atomically)\n"
            "  --restore FILE      resume the run saved in FILE (made from "
            "the same\n"
            "                      MODULE) instead of starting it; "
            "combines with\n"
            "                      --stop-after/--save, fuel counting "
            "from the\n"
            "                      restore; not with --invoke\n"
            "  --stats             print on stderr the fuel used when a "
            "host call\n"
            "                      blocks and at the end, counted from the "
            "start of\n"
            "                      this process (to pick --stop-after "
            "points)\n"
            "\nexit status:\n"
            "  the program's own: its proc_exit code, 0 when _start "
            "returns\n"
            "  0    --invoke returned\n"
            "  %d    usage error\n"
            "  %d  cannot load, link or instantiate the module, or "
            "cannot\n"
            "       restore or save a snapshot\n"
            "  %d  the program trapped\n",
            CLI_DEFAULT_FUEL, EXIT_USAGE, EXIT_CANNOT_RUN, EXIT_TRAP);
}

static int
cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static int
cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("vmrt %s\n", VMF_VERSION);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers                                                            */
/* ------------------------------------------------------------------ */

/*
 * parse_nan: "nan:0xPAYLOAD" (optionally signed), as print_val writes it,
 * into raw bits with `mbits` mantissa bits.
 * Return: 0, or -1 if `s` is not of that form.
 */
static int
parse_nan(const char *s, int mbits, uint64_t *bits)
{
    uint64_t sign = 0, payload, mmask = (1ull << mbits) - 1;
    char *end = NULL;

    if (*s == '-' || *s == '+')
        sign = *s++ == '-';
    if (strncmp(s, "nan:0x", 6) != 0)
        return -1;
    errno = 0;
    payload = strtoull(s + 6, &end, 16);
    if (errno != 0 || end == s + 6 || *end != '\0' || payload == 0 ||
        payload > mmask)
        return -1;
    /* All-ones exponent above the mantissa, sign above that. */
    *bits = sign << (mbits + (mbits == 23 ? 8 : 11)) |
            ((mbits == 23 ? 0xffull : 0x7ffull) << mbits) | payload;
    return 0;
}

/*
 * parse_arg: a command-line number as a value of `type`.
 * Return: 0, or -1 if it is not a valid number of that type.
 */
static int
parse_arg(const char *s, uint8_t type, vmrt_val_t *v)
{
    char *end = NULL;
    long long sl;
    unsigned long long ul;
    uint64_t bits;
    double d;
    float f;

    memset(v, 0, sizeof(*v));
    v->type = type;
    if (type == VMRT_F32 && parse_nan(s, 23, &bits) == 0) {
        v->of.f32 = (uint32_t)bits;
        return 0;
    }
    if (type == VMRT_F64 && parse_nan(s, 52, &bits) == 0) {
        v->of.f64 = bits;
        return 0;
    }
    errno = 0;
    switch (type) {
    case VMRT_I32:
    case VMRT_I64:
        if (s[0] == '-') {
            sl = strtoll(s, &end, 0);
            ul = (unsigned long long)sl;
            if (type == VMRT_I32 && sl < INT32_MIN)
                return -1;
        } else {
            ul = strtoull(s, &end, 0);
            if (type == VMRT_I32 && ul > UINT32_MAX)
                return -1;
        }
        if (errno != 0 || end == s || *end != '\0')
            return -1;
        if (type == VMRT_I32)
            v->of.i32 = (int32_t)(uint32_t)ul;
        else
            v->of.i64 = (int64_t)ul;
        return 0;
    case VMRT_F32:
        f = strtof(s, &end);
        if (end == s || *end != '\0')
            return -1;
        memcpy(&v->of.f32, &f, sizeof(f));
        return 0;
    case VMRT_F64:
        d = strtod(s, &end);
        if (end == s || *end != '\0')
            return -1;
        memcpy(&v->of.f64, &d, sizeof(d));
        return 0;
    default:
        return -1; /* references cannot be written on a command line */
    }
}

/*
 * Print a result so that it reads back to the same bits: enough digits
 * for floats, and NaNs as "nan" (canonical) or "nan:0xPAYLOAD".
 */
static void
print_val(const vmrt_val_t *v)
{
    float f;
    double d;

    switch (v->type) {
    case VMRT_I32:
        printf("%" PRId32 "\n", v->of.i32);
        break;
    case VMRT_I64:
        printf("%" PRId64 "\n", v->of.i64);
        break;
    case VMRT_F32:
        memcpy(&f, &v->of.f32, sizeof(f));
        if (isnan(f) && (v->of.f32 & 0x7fffffu) == 0x400000u)
            printf("%snan\n", v->of.f32 >> 31 ? "-" : "");
        else if (isnan(f))
            printf("%snan:0x%06" PRIx32 "\n", v->of.f32 >> 31 ? "-" : "",
                   v->of.f32 & 0x7fffffu);
        else
            printf("%.9g\n", (double)f);
        break;
    case VMRT_F64:
        memcpy(&d, &v->of.f64, sizeof(d));
        if (isnan(d) && (v->of.f64 & 0xfffffffffffffull) == 0x8000000000000ull)
            printf("%snan\n", v->of.f64 >> 63 ? "-" : "");
        else if (isnan(d))
            printf("%snan:0x%013" PRIx64 "\n", v->of.f64 >> 63 ? "-" : "",
                   (uint64_t)(v->of.f64 & 0xfffffffffffffull));
        else
            printf("%.17g\n", d);
        break;
    case VMRT_FUNCREF:
    case VMRT_EXTERNREF:
        if (v->of.ref == 0)
            printf("null\n");
        else
            printf("ref:%" PRIu64 "\n", v->of.ref);
        break;
    default:
        printf("(value of type 0x%02x)\n", (unsigned)v->type);
        break;
    }
}

static const char *
type_name(uint8_t t)
{
    switch (t) {
    case VMRT_I32:
        return "i32";
    case VMRT_I64:
        return "i64";
    case VMRT_F32:
        return "f32";
    case VMRT_F64:
        return "f64";
    case VMRT_FUNCREF:
        return "funcref";
    case VMRT_EXTERNREF:
        return "externref";
    default:
        return "v128";
    }
}

/* ------------------------------------------------------------------ */
/* run                                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *invoke; /* export to call, or NULL for _start */
    uint64_t fuel;
    vmrt_limits_t limits;
    const char **env; /* NULL-terminated */
    size_t nenv;
    const char *path;
    const char *save;    /* --save FILE, or NULL */
    const char *restore; /* --restore FILE, or NULL */
    uint64_t stop_after; /* --stop-after FUEL; 0 = run to the end */
    int stats;           /* --stats */
    const char *dir;     /* --dir PATH: the guest's root, or NULL */
    uint64_t quota;      /* --quota BYTES; 0 = unlimited */
    int nargs; /* program arguments after the module */
    char **args;
} run_opts_t;

/*
 * run_parse: parse `run`'s options.
 * Return: 0; -1 after printing the help; EXIT_USAGE or EXIT_CANNOT_RUN
 * after printing the problem.
 */
static int
run_parse(int argc, char **argv, run_opts_t *o)
{
    unsigned long long n;
    char *end;
    int i;

    o->fuel = CLI_DEFAULT_FUEL;
    /* argc bounds the number of --env options. */
    if ((o->env = calloc((size_t)argc + 1, sizeof(*o->env))) == NULL) {
        fprintf(stderr, "vmrt: out of memory\n");
        return EXIT_CANNOT_RUN;
    }
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(a, "--stats") == 0) {
            o->stats = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vmrt run: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--invoke") == 0) {
            o->invoke = argv[++i];
        } else if (strcmp(a, "--env") == 0) {
            if (strchr(argv[i + 1], '=') == NULL) {
                fprintf(stderr, "vmrt run: --env wants NAME=VALUE\n");
                return EXIT_USAGE;
            }
            o->env[o->nenv++] = argv[++i];
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = argv[++i];
        } else if (strcmp(a, "--quota") == 0) {
            errno = 0;
            n = strtoull(argv[i + 1], &end, 0);
            if (errno != 0 || *end != '\0' || n == 0) {
                fprintf(stderr, "vmrt run: bad --quota value %s\n",
                        argv[i + 1]);
                return EXIT_USAGE;
            }
            o->quota = n;
            i++;
        } else if (strcmp(a, "--save") == 0) {
            o->save = argv[++i];
        } else if (strcmp(a, "--restore") == 0) {
            o->restore = argv[++i];
        } else if (strcmp(a, "--fuel") == 0 || strcmp(a, "--max-pages") == 0 ||
                   strcmp(a, "--stop-after") == 0) {
            errno = 0;
            n = strtoull(argv[i + 1], &end, 0);
            if (errno != 0 || *end != '\0' || n == 0 ||
                (a[2] == 'm' && n > 65536)) {
                fprintf(stderr, "vmrt run: bad %s value %s\n", a, argv[i + 1]);
                return EXIT_USAGE;
            }
            if (a[2] == 'f')
                o->fuel = n;
            else if (a[2] == 's')
                o->stop_after = n;
            else
                o->limits.max_memory_pages = (uint32_t)n;
            i++;
        } else {
            fprintf(stderr, "vmrt run: unknown option %s\n", a);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: vmrt run [OPTIONS] MODULE.wasm [ARGS...]\n"
                        "(vmrt --help for more)\n");
        return EXIT_USAGE;
    }
    if (o->quota != 0 && o->dir == NULL) {
        fprintf(stderr, "vmrt run: --quota needs --dir\n");
        return EXIT_USAGE;
    }
    if ((o->save != NULL) != (o->stop_after != 0)) {
        fprintf(stderr, "vmrt run: --stop-after and --save go together\n");
        return EXIT_USAGE;
    }
    if (o->invoke != NULL && (o->save != NULL || o->restore != NULL)) {
        fprintf(stderr, "vmrt run: snapshots are of WASI commands only, "
                        "not --invoke\n");
        return EXIT_USAGE;
    }
    o->path = argv[i];
    o->args = argv + i + 1;
    o->nargs = argc - i - 1;
    return 0;
}

static void
print_trap(const char *path, const vmrt_trap_info_t *t)
{
    fprintf(stderr,
            "vmrt: %s: trap: %s (function %" PRIu32 ", offset 0x%" PRIx32 ")\n",
            path, vmrt_trap_str(t->code), t->func_index, t->offset);
}

/*
 * run_loop: run the pending call in fuel slices until it ends, sleeping
 * while the guest sleeps.  With `stop` > 0, return after the first slice
 * (yield or block) that brings the fuel used to `stop`; no slice asks for
 * more than what is left, so the stop lands close to `stop`.
 * With `stats`, report the fuel used at each block, where a stop would
 * save a blocked run.
 * Return: a vmrt_run_status_t (YIELD or BLOCKED only when stopped), or a
 * negative VMRT_E* code; *total receives the fuel used.
 */
static int
run_loop(vmrt_instance_t *inst, vmrt_wasi_t *wasi, uint64_t fuel,
         uint64_t stop, int stats, uint64_t *total)
{
    uint64_t wake, now, used, slice;
    int st;

    *total = 0;
    for (;;) {
        slice = fuel;
        if (stop > 0 && stop - *total < slice)
            slice = stop - *total;
        used = 0;
        st = vmrt_instance_run(inst, slice, &used);
        *total += used;
        if (st != VMRT_RUN_YIELD && st != VMRT_RUN_BLOCKED)
            return st;
        if (stop > 0 && *total >= stop)
            return st;
        if (st == VMRT_RUN_YIELD)
            continue;
        if (stats)
            fprintf(stderr, "vmrt: blocked at fuel %" PRIu64 "\n", *total);
        wake = vmrt_wasi_wake_time(wasi);
        now = pl_time_mono_ns();
        /* Blocked with no deadline: back off briefly instead of spinning. */
        pl_sleep_ns(wake == 0 ? 1000000 : wake > now ? wake - now : 0);
    }
}

/*
 * run_save: write the snapshot of a stopped run to `path`.
 * Return: 0, or EXIT_CANNOT_RUN after printing why.
 */
static int
run_save(vmrt_instance_t *inst, vmrt_wasi_t *wasi, const char *path,
         uint64_t used, int st)
{
    vmrt_snap_hook_t hook = vmrt_wasi_snapshot_hook(wasi);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = vmrt_snapshot_save(inst, &hook, 1, &buf, &len)) != 0) {
        fprintf(stderr, "vmrt: cannot save a snapshot: %s\n",
                vmrt_strerror(rc));
        return EXIT_CANNOT_RUN;
    }
    rc = pl_file_write_atomic(path, buf, len);
    vmrt_snapshot_free(buf);
    if (rc != 0) {
        fprintf(stderr, "vmrt: cannot write %s: %s\n", path, pl_strerror(rc));
        return EXIT_CANNOT_RUN;
    }
    fprintf(stderr, "vmrt: saved %s after %" PRIu64 " fuel (%s), %zu bytes\n",
            path, used,
            st == VMRT_RUN_BLOCKED ? "blocked in a host call" : "yielded",
            len);
    return 0;
}

/*
 * run_restore: load snapshot `path` into the fresh instance `inst`.
 * Return: 0, or EXIT_CANNOT_RUN after printing why.
 */
static int
run_restore(vmrt_instance_t *inst, vmrt_wasi_t *wasi, const char *path,
            const char *module)
{
    vmrt_snap_hook_t hook = vmrt_wasi_snapshot_hook(wasi);
    char err[CLI_ERRLEN] = "";
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = pl_file_read_all(path, CLI_MAX_SNAPSHOT, &buf, &len)) != 0) {
        fprintf(stderr, "vmrt: cannot read %s: %s\n", path, pl_strerror(rc));
        return EXIT_CANNOT_RUN;
    }
    rc = vmrt_snapshot_restore(inst, buf, len, &hook, 1, err, sizeof(err));
    pl_free_file(buf);
    if (rc != 0) {
        fprintf(stderr, "vmrt: cannot restore %s into %s: %s%s%s\n", path,
                module, vmrt_strerror(rc), err[0] ? ": " : "", err);
        return EXIT_CANNOT_RUN;
    }
    return 0;
}

/*
 * run_invoke_args: the --invoke arguments as values of the export's
 * parameter types.  Return: 0 with *vals (caller frees), or EXIT_USAGE.
 */
static int
run_invoke_args(const run_opts_t *o, vmrt_instance_t *inst, uint32_t func,
                vmrt_val_t **vals, uint32_t *nres, const uint8_t **rt)
{
    const uint8_t *pt;
    uint32_t np, i;

    *vals = NULL;
    if (vmrt_instance_func_type(inst, func, &np, &pt, nres, rt) != 0) {
        fprintf(stderr, "vmrt: cannot read the type of %s\n", o->invoke);
        return EXIT_CANNOT_RUN;
    }
    if ((uint32_t)o->nargs != np) {
        fprintf(stderr, "vmrt: %s takes %" PRIu32 " arguments (", o->invoke,
                np);
        for (i = 0; i < np; i++)
            fprintf(stderr, "%s%s", i ? " " : "", type_name(pt[i]));
        fprintf(stderr, "), %d given\n", o->nargs);
        return EXIT_USAGE;
    }
    if (np > 0 && (*vals = calloc(np, sizeof(**vals))) == NULL) {
        fprintf(stderr, "vmrt: out of memory\n");
        return EXIT_CANNOT_RUN;
    }
    for (i = 0; i < np; i++) {
        if (parse_arg(o->args[i], pt[i], &(*vals)[i]) != 0) {
            fprintf(stderr,
                    "vmrt: argument %" PRIu32 " \"%s\" is not a "
                    "valid %s\n",
                    i + 1, o->args[i], type_name(pt[i]));
            free(*vals);
            *vals = NULL;
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int
cmd_run(int argc, char **argv)
{
    char err[CLI_ERRLEN] = "";
    const char **wargv = NULL;
    const uint8_t *pt = NULL, *rt = NULL;
    vmrt_wasi_config_t cfg;
    run_opts_t o;
    vmrt_module_t *mod = NULL;
    vmrt_linker_t *lk = NULL;
    vmrt_instance_t *inst = NULL;
    vmrt_wasi_t *wasi = NULL;
    vmrt_val_t *vals = NULL, *res = NULL;
    vmrt_trap_info_t trap;
    vmrt_extern_kind_t kind;
    uint8_t *bytes = NULL;
    size_t len = 0;
    uint32_t func, nres = 0, code, i;
    uint64_t used = 0;
    const char *entry;
    int rc, st, ret = EXIT_CANNOT_RUN;

    memset(&o, 0, sizeof(o));
    if ((ret = run_parse(argc, argv, &o)) != 0) {
        ret = ret < 0 ? 0 : ret;
        goto out;
    }
    ret = EXIT_CANNOT_RUN;

    if ((rc = pl_file_read_all(o.path, CLI_MAX_MODULE, &bytes, &len)) != 0) {
        fprintf(stderr, "vmrt: cannot read %s: %s\n", o.path, pl_strerror(rc));
        goto out;
    }
    rc = vmrt_module_load(bytes, len, &mod, err, sizeof(err));
    pl_free_file(bytes);
    if (rc != 0) {
        fprintf(stderr, "vmrt: cannot load %s: %s%s%s\n", o.path,
                vmrt_strerror(rc), err[0] ? ": " : "", err);
        mod = NULL;
        goto out;
    }

    /* The guest's argv: the module path, then the program arguments. */
    if ((wargv = calloc((size_t)o.nargs + 1, sizeof(*wargv))) == NULL)
        goto nomem;
    wargv[0] = o.path;
    for (i = 0; i < (uint32_t)o.nargs; i++)
        wargv[i + 1] = o.args[i];
    memset(&cfg, 0, sizeof(cfg));
    cfg.argc = o.invoke ? 1 : o.nargs + 1;
    cfg.argv = wargv;
    cfg.envp = o.env;
    cfg.root = o.dir;
    cfg.quota = o.quota;
    if (o.dir != NULL) {
        /* Open it once here for a precise message; WASI opens its own. */
        pl_root_t root;

        if ((rc = pl_dir_open_root(&root, o.dir, 0)) != 0) {
            fprintf(stderr, "vmrt: --dir %s: %s\n", o.dir, pl_strerror(rc));
            goto out;
        }
        pl_dir_close_root(&root);
    }
    if ((wasi = vmrt_wasi_create(&cfg)) == NULL ||
        (lk = vmrt_linker_create()) == NULL)
        goto nomem;
    if ((rc = vmrt_wasi_link(wasi, lk)) != 0) {
        fprintf(stderr, "vmrt: cannot define WASI: %s\n", vmrt_strerror(rc));
        goto out;
    }
    rc = vmrt_instance_create(mod, lk, &o.limits, &inst, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "vmrt: cannot instantiate %s: %s%s%s\n", o.path,
                vmrt_strerror(rc), err[0] ? ": " : "", err);
        inst = NULL;
        goto out;
    }
    vmrt_instance_set_user(inst, wasi);
    memset(&trap, 0, sizeof(trap));
    if (o.restore != NULL) {
        /* The snapshot holds the start function's effects and the call. */
        if ((ret = run_restore(inst, wasi, o.restore, o.path)) != 0)
            goto out;
        ret = EXIT_CANNOT_RUN;
        goto run;
    }
    if ((rc = vmrt_instance_start(inst, &trap)) != 0) {
        if (trap.code != VMRT_TRAP_NONE) {
            print_trap(o.path, &trap);
            ret = EXIT_TRAP;
        } else
            fprintf(stderr, "vmrt: %s: start function failed: %s\n", o.path,
                    vmrt_strerror(rc));
        goto out;
    }

    entry = o.invoke ? o.invoke : "_start";
    rc = vmrt_instance_find_export(inst, entry, &kind, &func);
    if (rc != 0 || kind != VMRT_EXTERN_FUNC) {
        fprintf(stderr, "vmrt: %s: no exported function \"%s\"%s\n", o.path,
                entry, o.invoke ? "" : " (not a WASI command? try --invoke)");
        goto out;
    }
    if (o.invoke != NULL) {
        if ((ret = run_invoke_args(&o, inst, func, &vals, &nres, &rt)) != 0)
            goto out;
        ret = EXIT_CANNOT_RUN;
    } else if (vmrt_instance_func_type(inst, func, &i, &pt, &nres, &rt) != 0 ||
               i != 0) {
        fprintf(stderr, "vmrt: %s: _start must take no arguments\n", o.path);
        goto out;
    }
    if ((rc = vmrt_instance_call(inst, func, vals,
                                 o.invoke ? (uint32_t)o.nargs : 0)) != 0) {
        fprintf(stderr, "vmrt: %s: cannot call %s: %s\n", o.path, entry,
                vmrt_strerror(rc));
        goto out;
    }
run:
    st = run_loop(inst, wasi, o.fuel, o.stop_after, o.stats, &used);
    if (o.stats)
        fprintf(stderr, "vmrt: fuel used: %" PRIu64 "\n", used);
    switch (st) {
    case VMRT_RUN_YIELD:
    case VMRT_RUN_BLOCKED:
        ret = run_save(inst, wasi, o.save, used, st);
        break;
    case VMRT_RUN_DONE:
        if (nres > 0 && (res = calloc(nres, sizeof(*res))) == NULL)
            goto nomem;
        nres = vmrt_instance_results(inst, res, nres);
        if (o.invoke != NULL)
            for (i = 0; i < nres; i++)
                print_val(&res[i]);
        ret = 0;
        break;
    case VMRT_RUN_EXIT:
        if (!vmrt_wasi_exit_code(wasi, &code)) {
            fprintf(stderr, "vmrt: %s: exited without a code\n", o.path);
            break;
        }
        /* The OS keeps 8 bits of a status, as a native program's would. */
        ret = (int)(code & 0xff);
        break;
    case VMRT_RUN_TRAP:
        vmrt_instance_trap(inst, &trap);
        print_trap(o.path, &trap);
        ret = EXIT_TRAP;
        break;
    default:
        fprintf(stderr, "vmrt: %s: run failed: %s\n", o.path,
                vmrt_strerror(st));
        break;
    }
    goto out;
nomem:
    fprintf(stderr, "vmrt: out of memory\n");
    ret = EXIT_CANNOT_RUN;
out:
    fflush(stdout);
    free(res);
    free(vals);
    vmrt_instance_free(inst);
    vmrt_linker_free(lk);
    vmrt_wasi_destroy(wasi);
    vmrt_module_free(mod);
    free(wargv);
    free(o.env);
    return ret;
}

const char *cli_argv0 = "vmrt";

int
main(int argc, char **argv)
{
    size_t i;

    if (argc > 0 && argv[0] != NULL)
        cli_argv0 = argv[0];
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
        if (strcmp(argv[1], cli_cmds[i].name) == 0)
            return cli_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "vmrt: unknown command \"%s\" (vmrt --help)\n", argv[1]);
    return EXIT_USAGE;
}
