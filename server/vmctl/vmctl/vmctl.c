/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl: the operator's command-line tool.  A table of commands, each a
 * function that parses its own options and returns the exit status:
 * 0 done, 1 failed, 2 usage, 3 partial.  The commands here are local
 * (signing keys and packages, through vmf/vpk.h only); the ones that
 * talk to vmctld's HTTP API are in remote.c and rollout.c.  The global
 * options (conf.h) are taken out of argv before a command runs.
 */

#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "remote.h"
#include "vmctl.h"
#include "vmf/vpk.h"

#define EXIT_FAIL VMCTL_EXIT_FAIL
#define EXIT_USAGE VMCTL_EXIT_USAGE

#define KEYFILE_MAX (16u * 1024)  /* a PEM key file, generously */
#define NAME_MAX_LEN 31           /* a VM name on the device (vmrt) */
#define PATH_CAP 4096

typedef struct {
    const char *name;
    int (*fn)(const vmctl_globals_t *g, int argc, char **argv);
    const char *args;
    const char *help;
} vmctl_cmd_t;

static int cmd_keys(const vmctl_globals_t *g, int argc, char **argv);
static int cmd_pack(const vmctl_globals_t *g, int argc, char **argv);
static int cmd_inspect(const vmctl_globals_t *g, int argc, char **argv);
static int cmd_help(const vmctl_globals_t *g, int argc, char **argv);
static int cmd_version(const vmctl_globals_t *g, int argc, char **argv);

static const vmctl_cmd_t cmds[] = {
    { "info", vmctl_cmd_info, "", "show vmctld's version and state" },
    { "devices", vmctl_cmd_devices,
      "[--label K=V]... [--online|--offline]", "list devices" },
    { "device", vmctl_cmd_device, "show DEV", "show a device and its VMs" },
    { "vm", vmctl_cmd_vm,
      "ls DEV | create DEV --package P.vpk|SHA256\n"
      "       | start|stop|suspend|resume|restart|destroy DEV VM\n"
      "       | logs DEV VM [--bytes N]",
      "list VMs, create one, change its state (waits for the result), or "
      "show its log" },
    { "snapshot", vmctl_cmd_snapshot, "DEV VM | get SHA256 -o FILE",
      "snapshot a VM (prints the snapshot's SHA-256), or download one" },
    { "snapshots", vmctl_cmd_snapshots, "[ls] [--device DEV]",
      "list stored snapshots" },
    { "restore", vmctl_cmd_restore, "DEV VM SNAPSHOT",
      "restore a VM from a snapshot, on the same or another device" },
    { "command", vmctl_cmd_command, "show ID [--wait] | cancel ID",
      "show, follow or cancel a command" },
    { "commands", vmctl_cmd_command, "[ls] [--device DEV] [--limit N]",
      "list recent commands" },
    { "update", vmctl_cmd_update,
      "DEV[,DEV...]|--label K=V...|--all VM P.vpk [--canary N]\n"
      "       [--batch N|P%] [--max-failures N|P%] [--health-window MS] "
      "[--wait]",
      "roll out a package to devices in batches" },
    { "rollout", vmctl_cmd_rollout,
      "ls | show ID | pause|resume|abort ID | wait ID",
      "list, show, steer or follow rollouts" },
    { "rollouts", vmctl_cmd_rollout, "", "list rollouts (rollout ls)" },
    { "packages", vmctl_cmd_package, "[ls] [--vm NAME]",
      "list stored packages" },
    { "package", vmctl_cmd_package, "add P.vpk | show SHA256 | rm SHA256",
      "upload, show or delete a stored package" },
    { "keys", cmd_keys, "gen [-o PREFIX] [--force] | id KEYFILE",
      "make a signing key pair, or print a key's id" },
    { "pack", cmd_pack,
      "--vm NAME --version V --key KEY [OPTIONS] MODULE.wasm -o OUT.vpk",
      "build a signed package for one VM (vmctl pack --help)" },
    { "inspect", cmd_inspect, "PKG.vpk [--key PUB]...",
      "print a package's manifest; with keys, verify its signature" },
    { "help", cmd_help, "", "show this help" },
    { "version", cmd_version, "", "show the version" },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: vmctl [GLOBAL OPTIONS] COMMAND [ARGS...]\n\n"
               "commands:\n");
    for (i = 0; i < NCMDS; i++)
        fprintf(f, "  %s%s%s\n      %s\n", cmds[i].name,
                cmds[i].args[0] ? " " : "", cmds[i].args, cmds[i].help);
    fprintf(f,
            "\nGlobal options (before or after the command):\n"
            "  --server URL   vmctld's URL (else VMCTL_SERVER, the config "
            "file,\n"
            "                 " VMCTL_DEFAULT_SERVER ")\n"
            "  --token TOKEN  API token (else VMCTL_TOKEN, the config file)\n"
            "  --cacert FILE  CA certificate(s) for https (else "
            "VMCTL_CACERT, the\n"
            "                 config file)\n"
            "  --insecure     do not verify the server's TLS certificate\n"
            "  --timeout S    wait at most S seconds for a reply or a "
            "command\n"
            "                 (default %u)\n"
            "  --json         print the server's JSON reply as it is\n"
            "Config file: $XDG_CONFIG_HOME/vmctl/config or "
            "~/.config/vmctl/config,\n"
            "`key = value` lines: server, token, cacert.\n\n"
            "`vmctl COMMAND --help` shows a command's options.\n"
            "Exit status: 0 ok, 1 failed, 2 usage error, 3 partial (a "
            "rollout with\n"
            "some devices succeeded and some failed).\n",
            VMCTL_DEFAULT_TIMEOUT_S);
}

static bool
is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/*
 * opt_value: the value of option argv[*i], advancing *i past it.
 * Return: the value, or NULL (logged) if it is missing.
 */
static const char *
opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "vmctl: %s: missing value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/*
 * parse_uint: a decimal integer in [min, max] for option `opt`.
 * Return: 0, or EXIT_USAGE (logged, naming the option).
 */
static int
parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max,
           uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9') {
        fprintf(stderr, "vmctl: %s: '%s' is not a number\n", opt, s);
        return EXIT_USAGE;
    }
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        fprintf(stderr, "vmctl: %s: must be an integer %" PRIu64
                        "..%" PRIu64 "\n", opt, min, max);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

/* ---- keys --------------------------------------------------------------- */

static void
keys_usage(FILE *f)
{
    fprintf(f,
            "usage: vmctl keys gen [-o PREFIX] [--force]\n"
            "       vmctl keys id KEYFILE\n\n"
            "  gen  make an ECDSA P-256 key pair: PREFIX.key (private, mode "
            "0600) and\n"
            "       PREFIX.pub (public; give it to devices as "
            "ota.trusted_keys).\n"
            "       PREFIX defaults to \"vmfleet\".  Existing files are kept "
            "(exit 1)\n"
            "       unless --force.  Prints the key id.\n"
            "  id   print the id of a public or private PEM key (the "
            "first 8 bytes\n"
            "       of the SHA-256 of its public key, in hex).\n\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

static int
keys_gen(int argc, char **argv)
{
    char priv[VPK_PEM_MAX], pub[VPK_PEM_MAX], id[VPK_KEY_ID_LEN + 1];
    char keypath[PATH_CAP], pubpath[PATH_CAP], err[256];
    const char *prefix = "vmfleet";
    bool force = false;
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            keys_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-o") == 0) {
            if ((prefix = opt_value(argc, argv, &i)) == NULL)
                return EXIT_USAGE;
        } else if (strcmp(argv[i], "--force") == 0)
            force = true;
        else {
            fprintf(stderr, "vmctl keys gen: unknown argument '%s'\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    }
    if (prefix[0] == '\0' ||
        (size_t)snprintf(keypath, sizeof(keypath), "%s.key", prefix) >=
            sizeof(keypath) ||
        (size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", prefix) >=
            sizeof(pubpath)) {
        fprintf(stderr, "vmctl keys gen: -o: bad or too long prefix\n");
        return EXIT_USAGE;
    }
    if (!force) {
        const char *p = vmctl_file_exists(keypath) ? keypath
                        : vmctl_file_exists(pubpath) ? pubpath : NULL;

        if (p != NULL) {
            fprintf(stderr, "vmctl keys gen: %s exists; not overwritten "
                            "(--force replaces it)\n", p);
            return EXIT_FAIL;
        }
    }
    if ((rc = vpk_key_gen(priv, sizeof(priv), pub, sizeof(pub))) != 0 ||
        (rc = vpk_key_id(pub, id)) != 0) {
        fprintf(stderr, "vmctl keys gen: %s\n", vpk_strerror(rc));
        return EXIT_FAIL;
    }
    /* The private key first: a .pub without its .key is useless, the
     * other way round it can be made again with `keys id`. */
    rc = vmctl_file_write(keypath, priv, strlen(priv), 0600, force, err,
                          sizeof(err));
    if (rc == 0)
        rc = vmctl_file_write(pubpath, pub, strlen(pub), 0644, force, err,
                              sizeof(err));
    memset(priv, 0, sizeof(priv));
    if (rc != 0) {
        fprintf(stderr, "vmctl keys gen: %s\n", err);
        return EXIT_FAIL;
    }
    printf("key id %s\nprivate key %s (keep it secret)\npublic key %s\n", id,
           keypath, pubpath);
    return 0;
}

/*
 * read_key: a PEM key file into a NUL-terminated malloc()ed string.
 * Return: the string, or NULL (logged, naming `what`).
 */
static char *
read_key(const char *path, const char *what)
{
    char err[256];
    uint8_t *buf;
    size_t len;
    char *s;

    if (vmctl_file_read(path, KEYFILE_MAX, &buf, &len, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "vmctl: %s: %s\n", what, err);
        return NULL;
    }
    if ((s = realloc(buf, len + 1)) == NULL) {
        free(buf);
        fprintf(stderr, "vmctl: %s: out of memory\n", what);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

static int
keys_id(int argc, char **argv)
{
    char id[VPK_KEY_ID_LEN + 1], *pem;
    int rc;

    if (argc == 2 && is_help(argv[1])) {
        keys_usage(stdout);
        return 0;
    }
    if (argc != 2) {
        keys_usage(stderr);
        return EXIT_USAGE;
    }
    if ((pem = read_key(argv[1], argv[1])) == NULL)
        return EXIT_FAIL;
    rc = vpk_key_id(pem, id);
    free(pem);
    if (rc != 0) {
        fprintf(stderr, "vmctl keys id: %s: %s\n", argv[1],
                vpk_strerror(rc));
        return EXIT_FAIL;
    }
    printf("%s\n", id);
    return 0;
}

static int
cmd_keys(const vmctl_globals_t *g, int argc, char **argv)
{
    (void)g;
    if (argc >= 2 && is_help(argv[1])) {
        keys_usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return keys_gen(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "id") == 0)
        return keys_id(argc - 1, argv + 1);
    keys_usage(stderr);
    return EXIT_USAGE;
}

/* ---- pack --------------------------------------------------------------- */

static void
pack_usage(FILE *f)
{
    fprintf(f,
            "usage: vmctl pack --vm NAME --version V --key KEY MODULE.wasm "
            "-o OUT.vpk\n"
            "                  [--allow-downgrade] [--min-runtime V] "
            "[--memory-pages N]\n"
            "                  [--storage-quota BYTES] [--priority N]\n\n"
            "  --vm NAME            target VM: 1..%d of A-Z a-z 0-9 . _ - "
            "(not starting\n"
            "                       with '.')\n"
            "  --version V          the module's version (semver 2.0.0, "
            "e.g. 2.1.0)\n"
            "  --key KEY            private PEM key (vmctl keys gen)\n"
            "  -o OUT.vpk           the package, written atomically\n"
            "  --allow-downgrade    may replace a newer version\n"
            "  --min-runtime V      oldest vmrt version that may run it\n"
            "  --memory-pages N     linear-memory cap, 64 KiB pages "
            "(1..65536)\n"
            "  --storage-quota B    bytes of files in the VM's root\n"
            "  --priority N         0..31 (0 highest)\n"
            "Resources left out (or 0) mean the device's default.\n\n"
            "Prints the name, version, size, module SHA-256 and key id.\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n",
            NAME_MAX_LEN);
}

/* A VM name as the device accepts it (vmrt manifests). */
static bool
vm_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NAME_MAX_LEN || *s == '.')
        return false;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return false;
    }
    return true;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

typedef struct {
    const char *vm, *version, *key, *module, *out, *min_runtime;
    vpk_manifest_t m;
} pack_opts_t;

/*
 * pack_args: the options of `vmctl pack` into o, each value checked.
 * Return: 0, -1 after --help (printed), or EXIT_USAGE (logged).
 */
static int
pack_args(int argc, char **argv, pack_opts_t *o)
{
    uint64_t v;
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;

        if (is_help(a)) {
            pack_usage(stdout);
            return -1;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (o->module != NULL) {
                fprintf(stderr, "vmctl pack: one MODULE only ('%s' and "
                                "'%s')\n", o->module, a);
                return EXIT_USAGE;
            }
            o->module = a;
            continue;
        }
        if (strcmp(a, "--allow-downgrade") == 0) {
            o->m.allow_downgrade = true;
            continue;
        }
        if (strcmp(a, "--vm") == 0)
            dst = &o->vm;
        else if (strcmp(a, "--version") == 0)
            dst = &o->version;
        else if (strcmp(a, "--key") == 0)
            dst = &o->key;
        else if (strcmp(a, "-o") == 0)
            dst = &o->out;
        else if (strcmp(a, "--min-runtime") == 0)
            dst = &o->min_runtime;
        else if (strcmp(a, "--memory-pages") != 0 &&
                 strcmp(a, "--storage-quota") != 0 &&
                 strcmp(a, "--priority") != 0) {
            fprintf(stderr, "vmctl pack: unknown option '%s'\n", a);
            return EXIT_USAGE;
        }
        {
            const char *val = opt_value(argc, argv, &i);

            if (val == NULL)
                return EXIT_USAGE;
            if (dst != NULL) {
                *dst = val;
                continue;
            }
            if (strcmp(a, "--memory-pages") == 0) {
                if ((rc = parse_uint(a, val, 1, 65536, &v)) != 0)
                    return rc;
                o->m.memory_pages = (uint32_t)v;
            } else if (strcmp(a, "--storage-quota") == 0) {
                if ((rc = parse_uint(a, val, 0, UINT64_C(1) << 50,
                                     &o->m.storage_quota_bytes)) != 0)
                    return rc;
            } else {
                if ((rc = parse_uint(a, val, 0, 31, &v)) != 0)
                    return rc;
                o->m.priority = (int32_t)v;
            }
        }
    }
    if (o->vm == NULL || o->version == NULL || o->key == NULL ||
        o->module == NULL || o->out == NULL) {
        fprintf(stderr, "vmctl pack: missing %s\n",
                o->vm == NULL        ? "--vm NAME"
                : o->version == NULL ? "--version V"
                : o->key == NULL     ? "--key KEY"
                : o->module == NULL  ? "MODULE.wasm"
                                     : "-o OUT.vpk");
        return EXIT_USAGE;
    }
    if (!vm_name_ok(o->vm)) {
        fprintf(stderr, "vmctl pack: --vm: '%s' is not a VM name (1..%d of "
                        "A-Z a-z 0-9 . _ -, not starting with '.')\n",
                o->vm, NAME_MAX_LEN);
        return EXIT_USAGE;
    }
    if (vpk_semver_check(o->version) != 0) {
        fprintf(stderr, "vmctl pack: --version: '%s' is not a semantic "
                        "version (e.g. 2.1.0)\n", o->version);
        return EXIT_USAGE;
    }
    if (o->min_runtime != NULL && vpk_semver_check(o->min_runtime) != 0) {
        fprintf(stderr, "vmctl pack: --min-runtime: '%s' is not a semantic "
                        "version (e.g. 0.1.0)\n", o->min_runtime);
        return EXIT_USAGE;
    }
    snprintf(o->m.vm_name, sizeof(o->m.vm_name), "%s", o->vm);
    snprintf(o->m.version, sizeof(o->m.version), "%s", o->version);
    if (o->min_runtime != NULL)
        snprintf(o->m.min_runtime_version, sizeof(o->m.min_runtime_version),
                 "%s", o->min_runtime);
    o->m.created_unix = (int64_t)time(NULL);
    return 0;
}

static int
cmd_pack(const vmctl_globals_t *g, int argc, char **argv)
{
    pack_opts_t o;
    vpk_view_t view;
    uint8_t *mod = NULL, *pkg = NULL;
    size_t modlen = 0, pkglen = 0;
    char *key = NULL, err[256] = "", sha[2 * VPK_SHA256_LEN + 1];
    int rc, status = EXIT_FAIL;

    (void)g;
    memset(&o, 0, sizeof(o));
    if ((rc = pack_args(argc, argv, &o)) != 0)
        return rc < 0 ? 0 : rc;
    if (vmctl_file_read(o.module, VPK_MODULE_MAX, &mod, &modlen, err,
                        sizeof(err)) != 0) {
        fprintf(stderr, "vmctl pack: MODULE: %s\n", err);
        goto out;
    }
    if (modlen < 8 || memcmp(mod, "\0asm", 4) != 0) {
        fprintf(stderr, "vmctl pack: MODULE: %s is not a WebAssembly "
                        "binary (no \\0asm header)\n", o.module);
        goto out;
    }
    if ((key = read_key(o.key, "--key")) == NULL)
        goto out;
    rc = vpk_pack(&o.m, mod, modlen, key, &pkg, &pkglen, err, sizeof(err));
    if (rc == VPK_EKEY) {
        fprintf(stderr, "vmctl pack: --key: %s: not a private EC P-256 PEM "
                        "key (%s)\n", o.key, err[0] ? err : vpk_strerror(rc));
        goto out;
    } else if (rc != 0) {
        fprintf(stderr, "vmctl pack: %s\n", err[0] ? err : vpk_strerror(rc));
        goto out;
    }
    /* Read back what was written into the manifest (hash, key id). */
    if ((rc = vpk_parse(pkg, pkglen, &view, err, sizeof(err))) != 0) {
        fprintf(stderr, "vmctl pack: %s\n", err[0] ? err : vpk_strerror(rc));
        goto out;
    }
    if (vmctl_file_write_atomic(o.out, pkg, pkglen, 0644, err,
                                sizeof(err)) != 0) {
        fprintf(stderr, "vmctl pack: -o: %s\n", err);
        goto out;
    }
    hex(view.manifest.module_sha256, VPK_SHA256_LEN, sha);
    printf("%s: vm %s version %s, %zu bytes (module %zu bytes)\n"
           "module sha256 %s\nsigned with key %s\n",
           o.out, view.manifest.vm_name, view.manifest.version, pkglen,
           modlen, sha, view.manifest.key_id);
    status = 0;
out:
    if (key != NULL) {
        memset(key, 0, strlen(key));
        free(key);
    }
    free(pkg);
    free(mod);
    return status;
}

/* ---- inspect ------------------------------------------------------------ */

#define INSPECT_MAX_KEYS 16

static void
inspect_usage(FILE *f)
{
    fprintf(f,
            "usage: vmctl inspect PKG.vpk [--key PUB]...\n\n"
            "Prints the package's manifest.  With --key (public PEM keys, "
            "up to %d),\n"
            "also verifies it as a device does: signed by one of those "
            "keys, module\n"
            "hash and size as in the manifest.\n\n"
            "Exit status: 0 ok (verified, if keys were given), 1 failure or "
            "not\n"
            "verified, 2 usage error.\n",
            INSPECT_MAX_KEYS);
}

static void
print_manifest(const char *path, const vpk_view_t *v)
{
    const vpk_manifest_t *m = &v->manifest;
    char sha[2 * VPK_SHA256_LEN + 1];
    time_t t = (time_t)m->created_unix;
    struct tm tm;
    char when[32] = "?";

    hex(m->module_sha256, VPK_SHA256_LEN, sha);
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("package          %s\n"
           "vm               %s\n"
           "version          %s\n"
           "min runtime      %s\n"
           "allow downgrade  %s\n"
           "module size      %" PRIu64 "\n"
           "module sha256    %s\n"
           "memory pages     %" PRIu32 "\n"
           "storage quota    %" PRIu64 "\n"
           "priority         %" PRId32 "\n"
           "created          %s\n"
           "key id           %s\n",
           path, m->vm_name, m->version,
           m->min_runtime_version[0] ? m->min_runtime_version : "-",
           m->allow_downgrade ? "yes" : "no", m->module_size, sha,
           m->memory_pages, m->storage_quota_bytes, m->priority, when,
           m->key_id);
}

static int
cmd_inspect(const vmctl_globals_t *g, int argc, char **argv)
{
    char *keys[INSPECT_MAX_KEYS];
    const char *path = NULL;
    size_t nkeys = 0, i, len = 0;
    uint8_t *buf = NULL;
    vpk_view_t view;
    char err[256] = "";
    int a, rc, status = EXIT_FAIL;

    (void)g;
    for (a = 1; a < argc; a++) {
        if (is_help(argv[a])) {
            inspect_usage(stdout);
            status = 0;
            goto out;
        } else if (strcmp(argv[a], "--key") == 0) {
            const char *k = opt_value(argc, argv, &a);

            if (k == NULL || nkeys == INSPECT_MAX_KEYS) {
                if (k != NULL)
                    fprintf(stderr, "vmctl inspect: --key: more than %d\n",
                            INSPECT_MAX_KEYS);
                status = EXIT_USAGE;
                goto out;
            }
            if ((keys[nkeys] = read_key(k, "--key")) == NULL)
                goto out;
            nkeys++;
        } else if (argv[a][0] == '-' || path != NULL) {
            fprintf(stderr, "vmctl inspect: unexpected argument '%s'\n",
                    argv[a]);
            status = EXIT_USAGE;
            goto out;
        } else
            path = argv[a];
    }
    if (path == NULL) {
        inspect_usage(stderr);
        status = EXIT_USAGE;
        goto out;
    }
    if (vmctl_file_read(path, (size_t)VPK_MODULE_MAX + VPK_MANIFEST_MAX +
                                  VPK_SIG_MAX + 64,
                        &buf, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "vmctl inspect: %s\n", err);
        goto out;
    }
    if ((rc = vpk_parse(buf, len, &view, err, sizeof(err))) != 0) {
        fprintf(stderr, "vmctl inspect: %s: %s\n", path,
                err[0] ? err : vpk_strerror(rc));
        goto out;
    }
    print_manifest(path, &view);
    if (nkeys == 0) {
        printf("signature        not verified (no --key)\n");
        status = 0;
        goto out;
    }
    rc = vpk_verify(&view, (const char *const *)keys, nkeys, err,
                    sizeof(err));
    if (rc != 0) {
        printf("signature        FAILED\n");
        fprintf(stderr, "vmctl inspect: %s: not verified: %s\n", path,
                err[0] ? err : vpk_strerror(rc));
        goto out;
    }
    printf("signature        OK (key %s)\n", view.manifest.key_id);
    status = 0;
out:
    for (i = 0; i < nkeys; i++)
        free(keys[i]);
    free(buf);
    return status;
}

/* ---- main --------------------------------------------------------------- */

static int
cmd_help(const vmctl_globals_t *g, int argc, char **argv)
{
    const vmctl_help_t *h;

    (void)g;
    /* `vmctl help CMD` is `vmctl CMD --help`. */
    if (argc >= 2 && (h = vmctl_remote_help(argv[1])) != NULL) {
        vmctl_help_print(h, stdout);
        return 0;
    }
    usage(stdout);
    return 0;
}

static int
cmd_version(const vmctl_globals_t *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    (void)argv;
    printf("vmctl %s\n", VMF_VERSION);
    return 0;
}

int
vmctl_main(int argc, char **argv)
{
    vmctl_globals_t g;
    char err[256];
    size_t i;

    if (vmctl_globals_parse(&argc, argv, &g, err, sizeof(err)) != 0) {
        fprintf(stderr, "vmctl: %s\n(vmctl --help for more)\n", err);
        return EXIT_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1]))
        return cmd_help(&g, argc - 1, argv + 1);
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        return cmd_version(&g, argc - 1, argv + 1);
    for (i = 0; i < NCMDS; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(&g, argc - 1, argv + 1);
    fprintf(stderr, "vmctl: unknown command \"%s\" (vmctl --help)\n",
            argv[1]);
    return EXIT_USAGE;
}
