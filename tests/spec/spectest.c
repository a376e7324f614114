/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmrt-spectest: runs the official WebAssembly test suite, as converted by
 * wabt's `wast2json`, against the engine through its public API only.
 *
 *   vmrt-spectest [-v] FILE.json...
 *
 * Every command of every file counts once as passed, failed or skipped.
 * Module file names are resolved relative to the JSON file.  Conventions:
 *
 * - externref values: the suite's `(ref.extern N)` is passed to the engine
 *   as N + 1, because the engine reserves reference value 0 for null.
 *   Expected externref results are compared the same way.
 * - assert_malformed with module_type "text": the file is WebAssembly text
 *   (a `module quote`), which the engine does not accept at all.  Its bytes
 *   are fed to vmrt_module_load() anyway; a rejection counts as passed.
 * - assert_trap / assert_exhaustion compare vmrt_trap_str() of our trap
 *   with the expected text by prefix (either one may be the longer, e.g.
 *   "uninitialized element 2"); a different trap counts as failed.
 * - assert_invalid and assert_malformed pass on any load failure; -v shows
 *   the loader's reason.
 * - Files named simd_* are skipped entirely: SIMD is out of scope.  Nothing
 *   else is ever skipped.
 *
 * The `spectest` host module is a small wasm module (spectest.wat, embedded
 * at build time) that defines the memory, table and globals and re-exports
 * print functions defined here in the host module "spectest_host".
 *
 * Output: one line per file, `FILE: N passed, N failed, N skipped`, with -v
 * each failure as `FILE.wast:LINE: COMMAND: reason`, and last the line
 * `spec: N passed, N failed, N skipped`.  Exit status 1 if anything failed,
 * 2 on a usage error.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "pl/pl.h"
#include "vmrt/vmrt.h"

/* Generated from spectest.wat by bin2c.cmake. */
extern const unsigned char spectest_wasm[];
extern const size_t spectest_wasm_len;

/* Module and JSON files larger than this are refused. */
#define SPEC_MAX_FILE (64u * 1024 * 1024)
/*
 * An invoke runs in fuel slices; the total cap turns an engine bug that
 * loops forever into a failure instead of a hang of the whole suite.
 */
#define SPEC_FUEL_SLICE 100000000ull
#define SPEC_FUEL_SLICES 100
#define SPEC_ERRLEN 256

typedef struct {
    char *name; /* "$M" from the JSON, or NULL */
    vmrt_module_t *mod;
    vmrt_instance_t *inst; /* NULL if instantiation failed */
} spec_mod_t;

typedef struct {
    const char *json_path;
    const char *wast; /* source_filename, for messages */
    char *dir;        /* directory of the JSON file, with '/' */
    int verbose;
    int line;        /* of the current command */
    const char *cmd; /* type of the current command */
    vmrt_linker_t *lk;
    vmrt_instance_t *st_inst;
    spec_mod_t *mods; /* every module loaded, in order */
    size_t nmods, capmods;
    spec_mod_t *cur; /* the latest module command's module */
    unsigned long passed, failed, skipped;
} spec_file_t;

/* Outcome of running an action. */
enum { ACT_DONE = 0, ACT_TRAP = 1, ACT_ERROR = -1 };

static vmrt_module_t *spectest_mod;

#if defined(__GNUC__)
#define SPEC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPEC_PRINTF(f, a)
#endif

/*
 * Record a failure of the current command; with -v print why.
 */
static void spec_fail(spec_file_t *sf, const char *fmt, ...) SPEC_PRINTF(2, 3);

static void
spec_fail(spec_file_t *sf, const char *fmt, ...)
{
    va_list ap;

    sf->failed++;
    if (!sf->verbose)
        return;
    printf("  %s:%d: %s: ", sf->wast, sf->line, sf->cmd);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static char *
spec_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static const char *
spec_json_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* ------------------------------------------------------------------ */
/* The spectest host module                                           */
/* ------------------------------------------------------------------ */

/*
 * The print functions only exist to be imported and called; the suite
 * never checks their output, so they stay silent to keep the log short.
 */
static int
spec_host_print(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    (void)results;
    return 0;
}

static const struct {
    const char *name;
    const char *sig;
} spec_prints[] = {
    { "print", "()" },           { "print_i32", "(i)" },
    { "print_i64", "(I)" },      { "print_f32", "(f)" },
    { "print_f64", "(F)" },      { "print_i32_f32", "(if)" },
    { "print_f64_f64", "(FF)" },
};

/*
 * spec_file_setup: a fresh linker with `spectest` for one file, so that no
 * state (spectest memory, registrations) leaks from one file to the next.
 * Return: 0, or -1 with the reason printed; the file then runs anyway and
 * its commands fail one by one.
 */
static int
spec_file_setup(spec_file_t *sf)
{
    char err[SPEC_ERRLEN] = "";
    size_t i;
    int rc;

    if ((sf->lk = vmrt_linker_create()) == NULL) {
        fprintf(stderr, "%s: cannot create a linker\n", sf->json_path);
        return -1;
    }
    for (i = 0; i < sizeof(spec_prints) / sizeof(spec_prints[0]); i++) {
        rc = vmrt_linker_define_func(sf->lk, "spectest_host",
                                     spec_prints[i].name, spec_prints[i].sig,
                                     spec_host_print, NULL);
        if (rc != 0) {
            fprintf(stderr, "%s: cannot define spectest_host.%s: %s\n",
                    sf->json_path, spec_prints[i].name, vmrt_strerror(rc));
            return -1;
        }
    }
    if (spectest_mod == NULL)
        return -1;
    rc = vmrt_instance_create(spectest_mod, sf->lk, NULL, &sf->st_inst, err,
                              sizeof(err));
    if (rc != 0 || sf->st_inst == NULL) {
        sf->st_inst = NULL;
        fprintf(stderr, "%s: cannot instantiate spectest: %s: %s\n",
                sf->json_path, vmrt_strerror(rc), err);
        return -1;
    }
    if ((rc = vmrt_linker_define_instance(sf->lk, "spectest", sf->st_inst)) !=
        0) {
        fprintf(stderr, "%s: cannot register spectest: %s\n", sf->json_path,
                vmrt_strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * Free everything of one file.  Later instances may hold references into
 * earlier ones (imports, shared tables), so instances go first, newest
 * first, then modules, then the linker.
 */
static void
spec_file_teardown(spec_file_t *sf)
{
    size_t i;

    for (i = sf->nmods; i-- > 0;)
        vmrt_instance_free(sf->mods[i].inst);
    vmrt_instance_free(sf->st_inst);
    for (i = sf->nmods; i-- > 0;) {
        vmrt_module_free(sf->mods[i].mod);
        free(sf->mods[i].name);
    }
    free(sf->mods);
    vmrt_linker_free(sf->lk);
    free(sf->dir);
}

/* ------------------------------------------------------------------ */
/* Modules                                                            */
/* ------------------------------------------------------------------ */

/*
 * spec_module_load: load the module file `filename` (relative to the JSON
 * file's directory).
 * Return: 0 with *out set; 1 if the engine rejected it (reason in err);
 * -1 if the file could not be read (reason in err).
 */
static int
spec_module_load(spec_file_t *sf, const char *filename, vmrt_module_t **out,
                 char *err, size_t errlen)
{
    uint8_t *bytes = NULL;
    size_t len = 0, n;
    char *path;
    int rc;

    *out = NULL;
    n = strlen(sf->dir) + strlen(filename) + 1;
    if ((path = malloc(n)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(path, n, "%s%s", sf->dir, filename);
    rc = pl_file_read_all(path, SPEC_MAX_FILE, &bytes, &len);
    if (rc != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, pl_strerror(rc));
        free(path);
        return -1;
    }
    free(path);
    err[0] = '\0';
    rc = vmrt_module_load(bytes, len, out, err, errlen);
    pl_free_file(bytes);
    if (rc != 0 || *out == NULL) {
        if (rc == 0)
            snprintf(err, errlen, "loader returned no module");
        else if (err[0] == '\0')
            snprintf(err, errlen, "%s", vmrt_strerror(rc));
        if (*out != NULL)
            vmrt_module_free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

/*
 * Keep a loaded module (and its instance, if any) until the end of the
 * file: other instances may reference it through imports or tables even
 * when its own start function failed.
 * Return: the entry, or NULL when out of memory (the caller frees).
 */
static spec_mod_t *
spec_module_keep(spec_file_t *sf, const char *name, vmrt_module_t *mod,
                 vmrt_instance_t *inst)
{
    spec_mod_t *m;
    size_t cap;

    if (sf->nmods == sf->capmods) {
        cap = sf->capmods ? sf->capmods * 2 : 16;
        if ((m = realloc(sf->mods, cap * sizeof(*m))) == NULL)
            return NULL;
        sf->mods = m;
        sf->capmods = cap;
    }
    m = &sf->mods[sf->nmods];
    m->name = NULL;
    if (name != NULL && (m->name = spec_strdup(name)) == NULL)
        return NULL;
    m->mod = mod;
    m->inst = inst;
    sf->nmods++;
    return m;
}

/* UTF-8 of the code point standing for NUL in the current file, or "". */
static char spec_nul_utf8[5];

/*
 * spec_name: the real bytes of a JSON string (see spec_json_unnul): copies
 * `s` into buf (at least strlen(s) bytes) with each stand-in code point
 * turned back into NUL.
 * Return: the length.
 */
static size_t
spec_name(const char *s, char *buf)
{
    size_t n = 0;

    while (*s != '\0') {
        if (spec_nul_utf8[0] != '\0' && strncmp(s, spec_nul_utf8, 4) == 0) {
            buf[n++] = '\0';
            s += 4;
        } else
            buf[n++] = *s++;
    }
    return n;
}

/*
 * spec_find_export: vmrt_instance_find_export() by exact bytes, through
 * the module's export table, so that names with NUL bytes work.
 * Return: 0 with kind and index, or VMRT_ENOTFOUND.
 */
static int
spec_find_export(const vmrt_instance_t *inst, const char *field,
                 vmrt_extern_kind_t *kind, uint32_t *index)
{
    const vmrt_module_t *mod = vmrt_instance_module(inst);
    vmrt_extern_info_t info;
    uint32_t i, n;
    size_t len;
    char *name;
    int rc = VMRT_ENOTFOUND;

    if (mod == NULL || (name = malloc(strlen(field) + 1)) == NULL)
        return VMRT_ENOTFOUND;
    len = spec_name(field, name);
    n = vmrt_module_export_count(mod);
    for (i = 0; i < n; i++) {
        if (vmrt_module_export_info(mod, i, &info) != 0)
            continue;
        if (info.name_len == len &&
            (len == 0 || memcmp(info.name, name, len) == 0)) {
            *kind = info.kind;
            *index = info.index;
            rc = 0;
            break;
        }
    }
    free(name);
    return rc;
}

static spec_mod_t *
spec_module_find(spec_file_t *sf, const char *name)
{
    size_t i;

    if (name == NULL)
        return sf->cur;
    for (i = sf->nmods; i-- > 0;)
        if (sf->mods[i].name != NULL && strcmp(sf->mods[i].name, name) == 0)
            return &sf->mods[i];
    return NULL;
}

/*
 * spec_instantiate: instantiate `mod` against the file's linker and keep
 * both.  Return: 0 and *out; otherwise the vmrt_instance_create() error
 * (the module is still kept, the caller must not free it).
 */
static int
spec_instantiate(spec_file_t *sf, const char *name, vmrt_module_t *mod,
                 spec_mod_t **out, char *err, size_t errlen)
{
    vmrt_instance_t *inst = NULL;
    spec_mod_t *m;
    int rc;

    err[0] = '\0';
    rc = vmrt_instance_create(mod, sf->lk, NULL, &inst, err, errlen);
    if (rc == 0 && inst == NULL)
        rc = VMRT_ENOMEM;
    if (rc != 0)
        inst = NULL;
    if ((m = spec_module_keep(sf, name, mod, inst)) == NULL) {
        vmrt_instance_free(inst);
        vmrt_module_free(mod);
        snprintf(err, errlen, "out of memory");
        return VMRT_ENOMEM;
    }
    *out = m;
    if (rc != 0 && err[0] == '\0')
        snprintf(err, errlen, "%s", vmrt_strerror(rc));
    return rc;
}

/* ------------------------------------------------------------------ */
/* Values                                                             */
/* ------------------------------------------------------------------ */

static int
spec_type_parse(const char *s, uint8_t *type)
{
    static const struct {
        const char *name;
        uint8_t type;
    } types[] = {
        { "i32", VMRT_I32 },
        { "i64", VMRT_I64 },
        { "f32", VMRT_F32 },
        { "f64", VMRT_F64 },
        { "v128", VMRT_V128 },
        { "funcref", VMRT_FUNCREF },
        { "externref", VMRT_EXTERNREF },
    };
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i].name) == 0) {
            *type = types[i].type;
            return 0;
        }
    }
    return -1;
}

static const char *
spec_type_name(uint8_t type)
{
    switch (type) {
    case VMRT_I32:
        return "i32";
    case VMRT_I64:
        return "i64";
    case VMRT_F32:
        return "f32";
    case VMRT_F64:
        return "f64";
    case VMRT_V128:
        return "v128";
    case VMRT_FUNCREF:
        return "funcref";
    case VMRT_EXTERNREF:
        return "externref";
    default:
        return "?";
    }
}

/* Parse an unsigned decimal bit pattern.  Return: 0, or -1 if not one. */
static int
spec_u64_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0, d;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * spec_val_parse: a JSON argument {"type": T, "value": V} to a value.
 * Return: 0, or -1 with the reason in why.
 */
static int
spec_val_parse(const cJSON *j, vmrt_val_t *v, char *why, size_t whylen)
{
    const char *ts = spec_json_str(j, "type");
    const char *vs = spec_json_str(j, "value");
    uint64_t u = 0;

    memset(v, 0, sizeof(*v));
    if (spec_type_parse(ts, &v->type) != 0) {
        snprintf(why, whylen, "unknown value type %s", ts ? ts : "(none)");
        return -1;
    }
    if (v->type == VMRT_V128) {
        snprintf(why, whylen, "v128 argument: SIMD is out of scope");
        return -1;
    }
    if (v->type == VMRT_FUNCREF || v->type == VMRT_EXTERNREF) {
        if (vs != NULL && strcmp(vs, "null") == 0)
            return 0;
        if (v->type == VMRT_FUNCREF || spec_u64_parse(vs, &u) != 0 ||
            u == UINT64_MAX) {
            snprintf(why, whylen, "unsupported %s argument %s", ts,
                     vs ? vs : "(none)");
            return -1;
        }
        v->of.ref = u + 1; /* see the file comment: 0 is null */
        return 0;
    }
    if (spec_u64_parse(vs, &u) != 0) {
        snprintf(why, whylen, "bad %s value %s", ts, vs ? vs : "(none)");
        return -1;
    }
    switch (v->type) {
    case VMRT_I32:
        v->of.i32 = (int32_t)(uint32_t)u;
        break;
    case VMRT_I64:
        v->of.i64 = (int64_t)u;
        break;
    case VMRT_F32:
        v->of.f32 = (uint32_t)u;
        break;
    default:
        v->of.f64 = u;
        break;
    }
    return 0;
}

static void
spec_val_format(const vmrt_val_t *v, char *buf, size_t len)
{
    switch (v->type) {
    case VMRT_I32:
        snprintf(buf, len, "i32:%" PRIu32 " (0x%08" PRIx32 ")",
                 (uint32_t)v->of.i32, (uint32_t)v->of.i32);
        break;
    case VMRT_I64:
        snprintf(buf, len, "i64:%" PRIu64 " (0x%016" PRIx64 ")",
                 (uint64_t)v->of.i64, (uint64_t)v->of.i64);
        break;
    case VMRT_F32:
        snprintf(buf, len, "f32:%" PRIu32 " (0x%08" PRIx32 ")", v->of.f32,
                 v->of.f32);
        break;
    case VMRT_F64:
        snprintf(buf, len, "f64:%" PRIu64 " (0x%016" PRIx64 ")", v->of.f64,
                 v->of.f64);
        break;
    case VMRT_FUNCREF:
    case VMRT_EXTERNREF:
        if (v->of.ref == 0)
            snprintf(buf, len, "%s:null", spec_type_name(v->type));
        else
            snprintf(buf, len, "%s:%" PRIu64 "", spec_type_name(v->type),
                     v->of.ref);
        break;
    default:
        snprintf(buf, len, "type 0x%02x", (unsigned)v->type);
        break;
    }
}

/*
 * spec_val_match: does `got` satisfy the expected JSON value `j`?
 * Return: 1 if it does, 0 if not (why says what was expected).
 */
static int
spec_val_match(const cJSON *j, const vmrt_val_t *got, char *why, size_t whylen)
{
    const char *ts = spec_json_str(j, "type");
    const char *vs = spec_json_str(j, "value");
    char gs[64];
    uint8_t type;
    uint64_t u = 0;
    int ok;

    spec_val_format(got, gs, sizeof(gs));
    if (spec_type_parse(ts, &type) != 0 || type == VMRT_V128) {
        snprintf(why, whylen, "unsupported expected type %s",
                 ts ? ts : "(none)");
        return 0;
    }
    if (got->type != type) {
        snprintf(why, whylen, "expected a %s, got %s", ts, gs);
        return 0;
    }
    if (vs == NULL) {
        snprintf(why, whylen, "expected %s without a value", ts);
        return 0;
    }
    if (type == VMRT_F32 && strncmp(vs, "nan:", 4) == 0) {
        if (strcmp(vs, "nan:canonical") == 0)
            ok = (got->of.f32 & 0x7fffffffu) == 0x7fc00000u;
        else
            ok = (got->of.f32 & 0x7fc00000u) == 0x7fc00000u;
    } else if (type == VMRT_F64 && strncmp(vs, "nan:", 4) == 0) {
        if (strcmp(vs, "nan:canonical") == 0)
            ok = (got->of.f64 & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
        else
            ok = (got->of.f64 & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
    } else if (type == VMRT_FUNCREF || type == VMRT_EXTERNREF) {
        if (strcmp(vs, "null") == 0)
            ok = got->of.ref == 0;
        else if (type == VMRT_FUNCREF)
            ok = got->of.ref != 0; /* any non-null function */
        else
            ok = spec_u64_parse(vs, &u) == 0 && got->of.ref == u + 1;
    } else {
        if (spec_u64_parse(vs, &u) != 0) {
            snprintf(why, whylen, "bad expected %s value %s", ts, vs);
            return 0;
        }
        switch (type) {
        case VMRT_I32:
            ok = (uint32_t)got->of.i32 == (uint32_t)u;
            break;
        case VMRT_I64:
            ok = (uint64_t)got->of.i64 == u;
            break;
        case VMRT_F32:
            ok = got->of.f32 == (uint32_t)u;
            break;
        default:
            ok = got->of.f64 == u;
            break;
        }
    }
    if (!ok)
        snprintf(why, whylen, "expected %s:%s, got %s", ts, vs, gs);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Actions                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    vmrt_val_t *res; /* results (malloc'd), for ACT_DONE */
    uint32_t nres;
    vmrt_trap_info_t trap; /* for ACT_TRAP */
} spec_outcome_t;

/*
 * spec_run: run the pending call of `inst` to its end.
 * Return: ACT_DONE, ACT_TRAP (o->trap filled) or ACT_ERROR (why filled).
 */
static int
spec_run(vmrt_instance_t *inst, uint32_t nres, spec_outcome_t *o, char *why,
         size_t whylen)
{
    int st = VMRT_RUN_YIELD, i;

    for (i = 0; i < SPEC_FUEL_SLICES && st == VMRT_RUN_YIELD; i++)
        st = vmrt_instance_run(inst, SPEC_FUEL_SLICE, NULL);
    switch (st) {
    case VMRT_RUN_DONE:
        if (nres > 0 && (o->res = calloc(nres, sizeof(*o->res))) == NULL) {
            snprintf(why, whylen, "out of memory");
            return ACT_ERROR;
        }
        o->nres = vmrt_instance_results(inst, o->res, nres);
        if (o->nres != nres) {
            snprintf(why, whylen,
                     "engine returned %" PRIu32
                     " results, the function has %" PRIu32,
                     o->nres, nres);
            return ACT_ERROR;
        }
        return ACT_DONE;
    case VMRT_RUN_TRAP:
        vmrt_instance_trap(inst, &o->trap);
        return ACT_TRAP;
    case VMRT_RUN_YIELD:
        snprintf(why, whylen, "still running after %llu fuel; runaway?",
                 (unsigned long long)(SPEC_FUEL_SLICE * SPEC_FUEL_SLICES));
        break;
    case VMRT_RUN_BLOCKED:
        snprintf(why, whylen, "call blocked (no host function blocks)");
        break;
    case VMRT_RUN_EXIT:
        snprintf(why, whylen, "call exited (no host function exits)");
        break;
    default:
        snprintf(why, whylen, "run failed: %s", vmrt_strerror(st));
        return ACT_ERROR;
    }
    vmrt_instance_reset(inst);
    return ACT_ERROR;
}

/*
 * spec_action: perform an "invoke" or "get" action.
 * Return: ACT_DONE (o->res has the results), ACT_TRAP (o->trap), or
 * ACT_ERROR with the reason in why.  The caller frees o->res.
 */
static int
spec_action(spec_file_t *sf, const cJSON *act, spec_outcome_t *o, char *why,
            size_t whylen)
{
    const char *type = spec_json_str(act, "type");
    const char *mname = spec_json_str(act, "module");
    const char *field = spec_json_str(act, "field");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(act, "args");
    const cJSON *a;
    const uint8_t *pt, *rt;
    vmrt_val_t *vals = NULL;
    vmrt_extern_kind_t kind;
    uint32_t idx, np, nr, n = 0;
    spec_mod_t *m;
    int rc;

    memset(o, 0, sizeof(*o));
    if (type == NULL || field == NULL) {
        snprintf(why, whylen, "action without type or field");
        return ACT_ERROR;
    }
    if ((m = spec_module_find(sf, mname)) == NULL || m->inst == NULL) {
        snprintf(why, whylen, "no instance %s", mname ? mname : "(latest)");
        return ACT_ERROR;
    }
    rc = spec_find_export(m->inst, field, &kind, &idx);
    if (rc != 0) {
        snprintf(why, whylen, "export \"%s\" not found: %s", field,
                 vmrt_strerror(rc));
        return ACT_ERROR;
    }
    if (strcmp(type, "get") == 0) {
        if (kind != VMRT_EXTERN_GLOBAL) {
            snprintf(why, whylen, "export \"%s\" is not a global", field);
            return ACT_ERROR;
        }
        if ((o->res = calloc(1, sizeof(*o->res))) == NULL) {
            snprintf(why, whylen, "out of memory");
            return ACT_ERROR;
        }
        if ((rc = vmrt_instance_global_get(m->inst, idx, o->res)) != 0) {
            snprintf(why, whylen, "global_get: %s", vmrt_strerror(rc));
            return ACT_ERROR;
        }
        o->nres = 1;
        return ACT_DONE;
    }
    if (strcmp(type, "invoke") != 0) {
        snprintf(why, whylen, "unknown action %s", type);
        return ACT_ERROR;
    }
    if (kind != VMRT_EXTERN_FUNC) {
        snprintf(why, whylen, "export \"%s\" is not a function", field);
        return ACT_ERROR;
    }
    rc = vmrt_instance_func_type(m->inst, idx, &np, &pt, &nr, &rt);
    if (rc != 0) {
        snprintf(why, whylen, "func_type: %s", vmrt_strerror(rc));
        return ACT_ERROR;
    }
    if (np != (uint32_t)cJSON_GetArraySize(args)) {
        snprintf(why, whylen, "\"%s\" takes %" PRIu32 " params, given %d",
                 field, np, cJSON_GetArraySize(args));
        return ACT_ERROR;
    }
    if (np > 0 && (vals = calloc(np, sizeof(*vals))) == NULL) {
        snprintf(why, whylen, "out of memory");
        return ACT_ERROR;
    }
    cJSON_ArrayForEach(a, args)
    {
        if (spec_val_parse(a, &vals[n], why, whylen) != 0) {
            free(vals);
            return ACT_ERROR;
        }
        n++;
    }
    rc = vmrt_instance_call(m->inst, idx, vals, np);
    free(vals);
    if (rc != 0) {
        snprintf(why, whylen, "call \"%s\": %s", field, vmrt_strerror(rc));
        return ACT_ERROR;
    }
    return spec_run(m->inst, nr, o, why, whylen);
}

/*
 * Does our trap text agree with the suite's?  By prefix either way: the
 * suite sometimes appends detail ("uninitialized element 2").
 */
static int
spec_trap_match(vmrt_trap_t code, const char *expected)
{
    const char *ours = vmrt_trap_str(code);
    size_t a, b;

    if (ours == NULL || expected == NULL)
        return 0;
    a = strlen(ours);
    b = strlen(expected);
    return strncmp(ours, expected, a < b ? a : b) == 0 && a > 0 && b > 0;
}

/* ------------------------------------------------------------------ */
/* Commands                                                           */
/* ------------------------------------------------------------------ */

static void
cmd_module(spec_file_t *sf, const cJSON *c)
{
    const char *file = spec_json_str(c, "filename");
    const char *name = spec_json_str(c, "name");
    char err[SPEC_ERRLEN];
    vmrt_trap_info_t ti;
    vmrt_module_t *mod;
    spec_mod_t *m;
    int rc;

    /* A module that fails leaves no current module behind it. */
    sf->cur = NULL;
    if (file == NULL) {
        spec_fail(sf, "no filename");
        return;
    }
    if (spec_module_load(sf, file, &mod, err, sizeof(err)) != 0) {
        spec_fail(sf, "%s: load failed: %s", file, err);
        return;
    }
    if ((rc = spec_instantiate(sf, name, mod, &m, err, sizeof(err))) != 0) {
        spec_fail(sf, "%s: instantiate failed: %s", file, err);
        return;
    }
    memset(&ti, 0, sizeof(ti));
    if ((rc = vmrt_instance_start(m->inst, &ti)) != 0) {
        spec_fail(sf, "%s: start failed: %s (trap: %s)", file,
                  vmrt_strerror(rc), vmrt_trap_str(ti.code));
        return;
    }
    sf->cur = m;
    sf->passed++;
}

static void
cmd_register(spec_file_t *sf, const cJSON *c)
{
    const char *name = spec_json_str(c, "name");
    const char *as = spec_json_str(c, "as");
    spec_mod_t *m;
    int rc;

    if (as == NULL) {
        spec_fail(sf, "no \"as\"");
        return;
    }
    if ((m = spec_module_find(sf, name)) == NULL || m->inst == NULL) {
        spec_fail(sf, "no instance %s", name ? name : "(latest)");
        return;
    }
    if (sf->lk == NULL) {
        spec_fail(sf, "no linker");
        return;
    }
    if ((rc = vmrt_linker_define_instance(sf->lk, as, m->inst)) != 0) {
        spec_fail(sf, "define_instance %s: %s", as, vmrt_strerror(rc));
        return;
    }
    sf->passed++;
}

static void
cmd_assert_return(spec_file_t *sf, const cJSON *c, int want_results)
{
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "expected");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "action");
    char why[SPEC_ERRLEN];
    spec_outcome_t o;
    const cJSON *e;
    uint32_t i = 0;
    int rc;

    rc = spec_action(sf, act, &o, why, sizeof(why));
    if (rc == ACT_TRAP) {
        spec_fail(sf, "trapped: %s (func %" PRIu32 " @0x%" PRIx32 ")",
                  vmrt_trap_str(o.trap.code), o.trap.func_index, o.trap.offset);
        goto out;
    }
    if (rc != ACT_DONE) {
        spec_fail(sf, "%s", why);
        goto out;
    }
    if (want_results) {
        if ((uint32_t)cJSON_GetArraySize(exp) != o.nres) {
            spec_fail(sf, "expected %d results, got %" PRIu32,
                      cJSON_GetArraySize(exp), o.nres);
            goto out;
        }
        cJSON_ArrayForEach(e, exp)
        {
            if (!spec_val_match(e, &o.res[i], why, sizeof(why))) {
                spec_fail(sf, "result %" PRIu32 ": %s", i, why);
                goto out;
            }
            i++;
        }
    }
    sf->passed++;
out:
    free(o.res);
}

static void
cmd_assert_trap(spec_file_t *sf, const cJSON *c)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "action");
    const char *text = spec_json_str(c, "text");
    const char *file = spec_json_str(c, "filename");
    char why[SPEC_ERRLEN];
    vmrt_module_t *mod;
    spec_outcome_t o;
    spec_mod_t *m;
    int rc;

    memset(&o, 0, sizeof(o));
    if (act == NULL && file != NULL) {
        /* A module whose start function must trap. */
        if (spec_module_load(sf, file, &mod, why, sizeof(why)) != 0) {
            spec_fail(sf, "%s: load failed: %s", file, why);
            return;
        }
        if ((rc = spec_instantiate(sf, NULL, mod, &m, why, sizeof(why))) != 0) {
            spec_fail(sf, "%s: instantiate failed: %s", file, why);
            return;
        }
        if (vmrt_instance_start(m->inst, &o.trap) == 0) {
            spec_fail(sf, "%s: start did not trap, expected \"%s\"", file,
                      text ? text : "");
            return;
        }
        rc = ACT_TRAP;
    } else {
        rc = spec_action(sf, act, &o, why, sizeof(why));
        free(o.res);
    }
    if (rc == ACT_DONE) {
        spec_fail(sf, "returned, expected trap \"%s\"", text ? text : "");
        return;
    }
    if (rc != ACT_TRAP) {
        spec_fail(sf, "%s", why);
        return;
    }
    if (!spec_trap_match(o.trap.code, text)) {
        spec_fail(sf, "trapped \"%s\", expected \"%s\"",
                  vmrt_trap_str(o.trap.code), text ? text : "");
        return;
    }
    sf->passed++;
}

/* assert_invalid, assert_malformed: the loader must reject the file. */
static void
cmd_assert_reject(spec_file_t *sf, const cJSON *c)
{
    const char *file = spec_json_str(c, "filename");
    const char *text = spec_json_str(c, "text");
    char err[SPEC_ERRLEN];
    vmrt_module_t *mod;
    int rc;

    if (file == NULL) {
        spec_fail(sf, "no filename");
        return;
    }
    rc = spec_module_load(sf, file, &mod, err, sizeof(err));
    if (rc < 0) {
        spec_fail(sf, "%s", err);
        return;
    }
    if (rc == 0) {
        vmrt_module_free(mod);
        spec_fail(sf, "%s: loaded, expected \"%s\"", file, text ? text : "");
        return;
    }
    if (sf->verbose > 1)
        printf("  %s:%d: %s: ok, rejected: %s (expected \"%s\")\n", sf->wast,
               sf->line, sf->cmd, err, text ? text : "");
    sf->passed++;
}

static void
cmd_assert_unlinkable(spec_file_t *sf, const cJSON *c)
{
    const char *file = spec_json_str(c, "filename");
    char err[SPEC_ERRLEN];
    vmrt_module_t *mod;
    spec_mod_t *m;
    int rc;

    if (file == NULL) {
        spec_fail(sf, "no filename");
        return;
    }
    if (spec_module_load(sf, file, &mod, err, sizeof(err)) != 0) {
        spec_fail(sf, "%s: load failed: %s", file, err);
        return;
    }
    rc = spec_instantiate(sf, NULL, mod, &m, err, sizeof(err));
    if (rc != VMRT_EUNLINKABLE) {
        spec_fail(sf,
                  "%s: instantiate returned \"%s\" (%s), expected "
                  "unlinkable",
                  file, vmrt_strerror(rc), err);
        return;
    }
    sf->passed++;
}

static void
cmd_assert_uninstantiable(spec_file_t *sf, const cJSON *c)
{
    const char *file = spec_json_str(c, "filename");
    char err[SPEC_ERRLEN];
    vmrt_trap_info_t ti;
    vmrt_module_t *mod;
    spec_mod_t *m;
    int rc;

    if (file == NULL) {
        spec_fail(sf, "no filename");
        return;
    }
    if (spec_module_load(sf, file, &mod, err, sizeof(err)) != 0) {
        spec_fail(sf, "%s: load failed: %s", file, err);
        return;
    }
    rc = spec_instantiate(sf, NULL, mod, &m, err, sizeof(err));
    if (rc == VMRT_EUNINSTANTIABLE) {
        sf->passed++;
        return;
    }
    if (rc != 0) {
        spec_fail(sf, "%s: instantiate returned \"%s\" (%s)", file,
                  vmrt_strerror(rc), err);
        return;
    }
    memset(&ti, 0, sizeof(ti));
    if (vmrt_instance_start(m->inst, &ti) == 0) {
        spec_fail(sf, "%s: instantiated and started", file);
        return;
    }
    sf->passed++;
}

static void
spec_command(spec_file_t *sf, const cJSON *c)
{
    const cJSON *line = cJSON_GetObjectItemCaseSensitive(c, "line");
    const char *type = spec_json_str(c, "type");

    sf->line = cJSON_IsNumber(line) ? line->valueint : 0;
    sf->cmd = type ? type : "(none)";
    if (type == NULL)
        spec_fail(sf, "command without a type");
    else if (strcmp(type, "module") == 0)
        cmd_module(sf, c);
    else if (strcmp(type, "register") == 0)
        cmd_register(sf, c);
    else if (strcmp(type, "action") == 0)
        cmd_assert_return(sf, c, 0);
    else if (strcmp(type, "assert_return") == 0)
        cmd_assert_return(sf, c, 1);
    else if (strcmp(type, "assert_trap") == 0 ||
             strcmp(type, "assert_exhaustion") == 0)
        cmd_assert_trap(sf, c);
    else if (strcmp(type, "assert_invalid") == 0 ||
             strcmp(type, "assert_malformed") == 0)
        cmd_assert_reject(sf, c);
    else if (strcmp(type, "assert_unlinkable") == 0)
        cmd_assert_unlinkable(sf, c);
    else if (strcmp(type, "assert_uninstantiable") == 0)
        cmd_assert_uninstantiable(sf, c);
    else
        spec_fail(sf, "unknown command");
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

/* Does `needle` occur in `hay`, ignoring ASCII case? */
static int
spec_contains(const uint8_t *hay, size_t len, const char *needle)
{
    size_t i, j, n = strlen(needle);

    for (i = 0; i + n <= len; i++) {
        for (j = 0; j < n; j++) {
            int a = hay[i + j], b = (unsigned char)needle[j];

            if (a >= 'A' && a <= 'Z')
                a += 'a' - 'A';
            if (a != b)
                break;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/*
 * cJSON strings are NUL-terminated, so a "\u0000" escape (names.wast has
 * export names with NUL bytes) would cut a name short.  Before parsing,
 * each such escape becomes a private-use code point that the file does not
 * use otherwise (chosen per file, written as a surrogate-pair escape), and
 * spec_name() turns its UTF-8 form, kept in nul_utf8, back into NUL.
 * Return: the new text (malloc'd), or NULL when out of memory or when no
 * free code point was found.
 */
static char *
spec_json_unnul(const uint8_t *text, size_t len, size_t *outlen,
                char nul_utf8[5])
{
    static const char nul[] = "\\u0000";
    char mark[16] = "";
    size_t i, o = 0, n = 0, bs = 0;
    uint32_t cp, hi, lo;
    char *out;

    memset(nul_utf8, 0, 5);
    for (i = 0; i + 6 <= len; i++)
        if (memcmp(text + i, nul, 6) == 0)
            n++;
    if (n > 0) {
        for (cp = 0x10fffd; cp >= 0x100000; cp--) {
            hi = 0xd800 + ((cp - 0x10000) >> 10);
            lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
            snprintf(mark, sizeof(mark), "\\u%04x\\u%04x", (unsigned)hi,
                     (unsigned)lo);
            nul_utf8[0] = (char)(0xf0 | (cp >> 18));
            nul_utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            nul_utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            nul_utf8[3] = (char)(0x80 | (cp & 0x3f));
            if (!spec_contains(text, len, mark) &&
                !spec_contains(text, len, nul_utf8))
                break;
        }
        if (cp < 0x100000)
            return NULL;
    }
    if ((out = malloc(len + n * 6 + 1)) == NULL)
        return NULL;
    for (i = 0; i < len; i++) {
        /* An escape only if preceded by an even run of backslashes. */
        if (n > 0 && text[i] == '\\' && bs % 2 == 0 && i + 6 <= len &&
            memcmp(text + i, nul, 6) == 0) {
            memcpy(out + o, mark, 12);
            o += 12;
            i += 5;
            bs = 0;
            continue;
        }
        bs = text[i] == '\\' ? bs + 1 : 0;
        out[o++] = (char)text[i];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

static const char *
spec_basename(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

static int simd_noted;

/*
 * spec_file_run: run every command of one JSON file and print its line.
 * Adds the file's counts to *tot.
 */
static void
spec_file_run(const char *path, int verbose, unsigned long tot[3])
{
    spec_file_t sf;
    const cJSON *cmds, *c;
    const char *base = spec_basename(path);
    cJSON *root = NULL;
    uint8_t *text = NULL;
    char *json;
    size_t len = 0, dlen;
    int rc;

    memset(&sf, 0, sizeof(sf));
    sf.json_path = path;
    sf.wast = base;
    sf.verbose = verbose;
    sf.cmd = "file";
    dlen = (size_t)(base - path);
    if ((sf.dir = malloc(dlen + 1)) == NULL) {
        sf.failed++;
        goto out;
    }
    memcpy(sf.dir, path, dlen);
    sf.dir[dlen] = '\0';

    if ((rc = pl_file_read_all(path, SPEC_MAX_FILE, &text, &len)) != 0) {
        spec_fail(&sf, "cannot read: %s", pl_strerror(rc));
        goto out;
    }
    json = spec_json_unnul(text, len, &len, spec_nul_utf8);
    pl_free_file(text);
    if (json == NULL) {
        spec_fail(&sf, "out of memory, or no code point for NUL");
        goto out;
    }
    root = cJSON_ParseWithLength(json, len);
    free(json);
    cmds = cJSON_GetObjectItemCaseSensitive(root, "commands");
    if (root == NULL || !cJSON_IsArray(cmds)) {
        spec_fail(&sf, "not a wast2json file");
        goto out;
    }
    if (spec_json_str(root, "source_filename") != NULL)
        sf.wast = spec_basename(spec_json_str(root, "source_filename"));

    if (strncmp(base, "simd_", 5) == 0) {
        if (!simd_noted)
            printf("note: simd_* files are skipped: SIMD is out of scope\n");
        simd_noted = 1;
        sf.skipped = (unsigned long)cJSON_GetArraySize(cmds);
        goto out;
    }
    (void)spec_file_setup(&sf);
    cJSON_ArrayForEach(c, cmds)
    {
        spec_command(&sf, c);
    }
out:
    printf("%s: %lu passed, %lu failed, %lu skipped\n", base, sf.passed,
           sf.failed, sf.skipped);
    fflush(stdout);
    tot[0] += sf.passed;
    tot[1] += sf.failed;
    tot[2] += sf.skipped;
    spec_file_teardown(&sf);
    cJSON_Delete(root);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: vmrt-spectest [-v] FILE.json...\n"
               "Runs wast2json output of the WebAssembly spec suite.\n"
               "  -v   print each failure (-vv: also each rejection reason)\n"
               "Exit status: 0 all passed, 1 something failed, 2 usage.\n");
}

int
main(int argc, char **argv)
{
    unsigned long tot[3] = { 0, 0, 0 };
    char err[SPEC_ERRLEN] = "";
    int i, verbose = 0, nfiles = 0, rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose++;
        else if (strcmp(argv[i], "-vv") == 0)
            verbose += 2;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else
            nfiles++;
    }
    if (nfiles == 0) {
        usage(stderr);
        return 2;
    }
    rc = vmrt_module_load(spectest_wasm, spectest_wasm_len, &spectest_mod, err,
                          sizeof(err));
    if (rc != 0) {
        spectest_mod = NULL;
        fprintf(stderr, "vmrt-spectest: cannot load spectest.wasm: %s: %s\n",
                vmrt_strerror(rc), err);
    }
    for (i = 1; i < argc; i++)
        if (argv[i][0] != '-')
            spec_file_run(argv[i], verbose, tot);
    vmrt_module_free(spectest_mod);
    printf("spec: %lu passed, %lu failed, %lu skipped\n", tot[0], tot[1],
           tot[2]);
    return tot[1] > 0 ? 1 : 0;
}
