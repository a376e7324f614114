/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vmctld registry (server/vmctl/vmctld/src/registry.c) on real SQLite
 * files in a fresh temporary directory per test: schema creation and
 * migration, refusal of newer and foreign files, and a round trip of
 * every table, across a close and reopen.
 */

#define _GNU_SOURCE /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"
#include "registry_internal.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct fixture {
    char dir[256];
    char path[300];
    char err[512];
    vmctld_reg_t *reg;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/vmf-reg-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/vmctld.db", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    char p[320];
    size_t i;

    vmctld_reg_close(f->reg);
    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        remove(p);
    }
    remove(f->dir);
    free(f);
    return 0;
}

static void
open_ok(fixture_t *f)
{
    int rc = vmctld_reg_open(f->path, &f->reg, f->err, sizeof(f->err));

    if (rc != 0)
        fail_msg("open: %d %s", rc, f->err);
}

static void
reopen(fixture_t *f)
{
    vmctld_reg_close(f->reg);
    f->reg = NULL;
    open_ok(f);
}

static void
raw(fixture_t *f, const char *sql)
{
    if (vmctld_reg__exec_raw(f->path, sql, f->err, sizeof(f->err)) != 0)
        fail_msg("raw sql: %s", f->err);
}

static void
device_init(vmctld_reg_device_t *d, const char *id, vmctld_reg_label_t *l,
            size_t nl, vmctld_reg_vm_t *vms, size_t nv)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->online = true;
    d->last_seen_ms = 1000;
    snprintf(d->runtime_version, sizeof(d->runtime_version), "1.0.0");
    snprintf(d->ota_version, sizeof(d->ota_version), "1.0.1");
    snprintf(d->boot_id, sizeof(d->boot_id), "boot-%s", id);
    d->labels = l;
    d->n_labels = nl;
    d->vms = vms;
    d->n_vms = nv;
}

static void
test_registry_fresh_db_gets_latest_schema_in_wal(void **state)
{
    fixture_t *f = *state;
    char mode[16];

    open_ok(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg),
                     VMCTLD_REG_SCHEMA_VERSION);
    assert_int_equal(vmctld_reg_journal_mode(f->reg, mode, sizeof(mode)), 0);
    assert_string_equal(mode, "wal");
    /* Opening again changes nothing and migrates nothing. */
    reopen(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg),
                     VMCTLD_REG_SCHEMA_VERSION);
}

static void
test_registry_migrates_v1_keeping_rows(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_device_t d;
    vmctld_reg_package_t p;

    /* Schema version 1 exactly as the first migration step wrote it. */
    raw(f,
        "PRAGMA application_id = 1447904836;"
        "CREATE TABLE devices (id TEXT PRIMARY KEY,"
        " online INTEGER NOT NULL DEFAULT 0,"
        " last_seen_ms INTEGER NOT NULL DEFAULT 0,"
        " runtime_version TEXT NOT NULL DEFAULT '',"
        " ota_version TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE device_labels (device TEXT NOT NULL REFERENCES"
        " devices(id) ON DELETE CASCADE, key TEXT NOT NULL,"
        " value TEXT NOT NULL, PRIMARY KEY (device, key));"
        "CREATE INDEX device_labels_kv ON device_labels(key, value);"
        "CREATE TABLE device_vms (device TEXT NOT NULL REFERENCES"
        " devices(id) ON DELETE CASCADE, name TEXT NOT NULL,"
        " version TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '',"
        " memory_bytes INTEGER NOT NULL DEFAULT 0,"
        " storage_quota INTEGER NOT NULL DEFAULT 0,"
        " restarts INTEGER NOT NULL DEFAULT 0,"
        " last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY (device, name));"
        "CREATE TABLE packages (sha256 TEXT PRIMARY KEY, vm TEXT NOT NULL,"
        " version TEXT NOT NULL, size INTEGER NOT NULL,"
        " key_id TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"
        " path TEXT NOT NULL);"
        "CREATE TABLE snapshots (sha256 TEXT PRIMARY KEY,"
        " device TEXT NOT NULL, vm TEXT NOT NULL, size INTEGER NOT NULL,"
        " created_ms INTEGER NOT NULL, path TEXT NOT NULL);"
        "INSERT INTO devices VALUES ('dev-old', 1, 42, '0.9.0', '0.9.1');"
        "INSERT INTO device_labels VALUES ('dev-old', 'site', 'berlin');"
        "INSERT INTO device_vms VALUES ('dev-old', 'sensor', '1.0.0',"
        " 'running', 65536, 4096, 2, '');"
        "INSERT INTO packages VALUES ('" SHA_A "', 'sensor', '1.0.0', 123,"
        " 'k1', 7, '/store/a.vpk');"
        "PRAGMA user_version = 1;");

    open_ok(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg),
                     VMCTLD_REG_SCHEMA_VERSION);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-old", &d), 0);
    assert_true(d.online);
    assert_int_equal(d.last_seen_ms, 42);
    assert_string_equal(d.runtime_version, "0.9.0");
    assert_string_equal(d.boot_id, ""); /* the column added by step 2 */
    assert_int_equal(d.n_labels, 1);
    assert_string_equal(d.labels[0].value, "berlin");
    assert_int_equal(d.n_vms, 1);
    assert_int_equal(d.vms[0].memory_bytes, 65536);
    assert_int_equal(d.vms[0].restarts, 2);
    vmctld_reg_device_clear(&d);
    assert_int_equal(vmctld_reg_package_get(f->reg, SHA_A, &p), 0);
    assert_string_equal(p.path, "/store/a.vpk");
    assert_int_equal(p.size, 123);
    /* The v2 tables exist and work on the migrated file. */
    vmctld_reg_command_t c = { .id = "c1", .device = "dev-old",
                               .kind = "start", .expires_ms = 10 };
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
}

static void
test_registry_newer_schema_is_refused(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_t *reg = NULL;

    open_ok(f);
    vmctld_reg_close(f->reg);
    f->reg = NULL;
    raw(f, "PRAGMA user_version = 99");
    assert_int_equal(vmctld_reg_open(f->path, &reg, f->err, sizeof(f->err)),
                     VMCTLD_REG_ENEWER);
    assert_null(reg);
    assert_non_null(strstr(f->err, "newer"));
    assert_non_null(strstr(f->err, "99"));
}

static void
test_registry_garbage_file_is_not_a_db(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_t *reg = NULL;
    FILE *fp;
    int i;

    assert_non_null(fp = fopen(f->path, "wb"));
    for (i = 0; i < 4096; i++)
        fputc((i * 31 + 7) & 0xff, fp);
    fclose(fp);
    assert_int_equal(vmctld_reg_open(f->path, &reg, f->err, sizeof(f->err)),
                     VMCTLD_REG_ENOTDB);
    assert_null(reg);
    assert_non_null(strstr(f->err, f->path));
    assert_non_null(strstr(f->err, "not a database"));
}

static void
test_registry_foreign_sqlite_db_is_refused(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_t *reg = NULL;

    raw(f, "CREATE TABLE other_app (x INTEGER)");
    assert_int_equal(vmctld_reg_open(f->path, &reg, f->err, sizeof(f->err)),
                     VMCTLD_REG_ENOTDB);
    assert_null(reg);
    assert_non_null(strstr(f->err, "not a vmctld database"));
}

static void
test_registry_device_upsert_replaces_vms_atomically(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_label_t l[] = { { "site", "berlin" }, { "hw", "rev2" } };
    vmctld_reg_vm_t v1[] = { { .name = "sensor", .version = "1.0.0" },
                             { .name = "logger", .version = "0.1.0" } };
    vmctld_reg_vm_t v2[] = { { .name = "sensor", .version = "2.0.0",
                               .state = "running", .restarts = 1 } };
    vmctld_reg_vm_t bad[] = { { .name = "display" }, { .name = "display" } };
    vmctld_reg_device_t d, got;

    open_ok(f);
    device_init(&d, "dev-1", l, 2, v1, 2);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_int_equal(got.n_vms, 2);
    assert_int_equal(got.n_labels, 2);
    vmctld_reg_device_clear(&got);

    device_init(&d, "dev-1", l, 1, v2, 1);
    d.last_seen_ms = 2000;
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_int_equal(got.last_seen_ms, 2000);
    assert_int_equal(got.n_vms, 1);
    assert_string_equal(got.vms[0].name, "sensor");
    assert_string_equal(got.vms[0].version, "2.0.0");
    assert_int_equal(got.vms[0].restarts, 1);
    assert_int_equal(got.n_labels, 1);
    vmctld_reg_device_clear(&got);

    /* A duplicate VM name fails halfway through the VM rows: nothing of
     * that update may be visible, not even the device row. */
    device_init(&d, "dev-1", NULL, 0, bad, 2);
    d.last_seen_ms = 3000;
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), VMCTLD_REG_EEXIST);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_int_equal(got.last_seen_ms, 2000);
    assert_int_equal(got.n_vms, 1);
    assert_string_equal(got.vms[0].version, "2.0.0");
    assert_int_equal(got.n_labels, 1);
    vmctld_reg_device_clear(&got);

    assert_int_equal(vmctld_reg_device_mark_offline(f->reg, "dev-1", 5000), 0);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_false(got.online);
    assert_int_equal(got.last_seen_ms, 5000);
    vmctld_reg_device_clear(&got);
    assert_int_equal(vmctld_reg_device_mark_offline(f->reg, "nope", 1),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_device_get(f->reg, "nope", &got),
                     VMCTLD_REG_ENOTFOUND);
}

static void
test_registry_device_list_label_filter(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_label_t berlin[] = { { "site", "berlin" } };
    vmctld_reg_label_t paris[] = { { "site", "paris" }, { "hw", "berlin" } };
    vmctld_reg_vm_t vm[] = { { .name = "sensor", .version = "1.0.0" } };
    vmctld_reg_device_t d, *list;
    size_t n;

    open_ok(f);
    device_init(&d, "dev-c", berlin, 1, vm, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    device_init(&d, "dev-a", berlin, 1, NULL, 0);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    device_init(&d, "dev-b", paris, 2, NULL, 0);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);

    assert_int_equal(vmctld_reg_device_list(f->reg, NULL, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, "dev-a");
    assert_string_equal(list[2].id, "dev-c");
    assert_int_equal(list[2].n_vms, 1);
    vmctld_reg_devices_free(list, n);

    assert_int_equal(
        vmctld_reg_device_list(f->reg, "site=berlin", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "dev-a");
    assert_string_equal(list[1].id, "dev-c");
    assert_string_equal(list[1].vms[0].name, "sensor");
    vmctld_reg_devices_free(list, n);

    assert_int_equal(vmctld_reg_device_list(f->reg, "site=rome", &list, &n),
                     0);
    assert_int_equal(n, 0);
    vmctld_reg_devices_free(list, n);

    assert_int_equal(vmctld_reg_device_list(f->reg, "site", &list, &n),
                     VMCTLD_REG_EINVAL);
    assert_non_null(strstr(vmctld_reg_errmsg(f->reg), "key=value"));
    assert_int_equal(vmctld_reg_device_list(f->reg, "=x", &list, &n),
                     VMCTLD_REG_EINVAL);
}

static void
test_registry_packages_and_snapshots(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_package_t p = { .sha256 = SHA_A, .vm = "sensor",
                               .version = "2.1.0", .size = 4096,
                               .key_id = "0011223344556677",
                               .created_ms = 10, .path = "/s/a.vpk" };
    vmctld_reg_snapshot_t s = { .sha256 = SHA_B, .device = "dev-1",
                                .vm = "sensor", .size = 99,
                                .created_ms = 20, .path = "/s/b.snap" };
    vmctld_reg_package_t got, *pl;
    vmctld_reg_snapshot_t sgot, *sl;
    size_t n;

    open_ok(f);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), 0);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), VMCTLD_REG_EEXIST);
    assert_int_equal(vmctld_reg_package_get(f->reg, SHA_A, &got), 0);
    assert_memory_equal(&got, &p, sizeof(p));
    assert_int_equal(vmctld_reg_package_list(f->reg, "sensor", &pl, &n), 0);
    assert_int_equal(n, 1);
    vmctld_reg_packages_free(pl);
    assert_int_equal(vmctld_reg_package_list(f->reg, "other", &pl, &n), 0);
    assert_int_equal(n, 0);
    vmctld_reg_packages_free(pl);

    /* Not hex, or upper case: refused before SQL. */
    snprintf(p.sha256, sizeof(p.sha256), "%.63sG", SHA_A);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), VMCTLD_REG_EINVAL);

    assert_int_equal(vmctld_reg_snapshot_put(f->reg, &s), 0);
    assert_int_equal(vmctld_reg_snapshot_get(f->reg, SHA_B, &sgot), 0);
    assert_memory_equal(&sgot, &s, sizeof(s));
    assert_int_equal(vmctld_reg_snapshot_list(f->reg, "dev-1", &sl, &n), 0);
    assert_int_equal(n, 1);
    vmctld_reg_snapshots_free(sl);
    assert_int_equal(vmctld_reg_snapshot_delete(f->reg, SHA_B), 0);
    assert_int_equal(vmctld_reg_snapshot_delete(f->reg, SHA_B),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_snapshot_get(f->reg, SHA_B, &sgot),
                     VMCTLD_REG_ENOTFOUND);

    assert_int_equal(vmctld_reg_package_delete(f->reg, SHA_A), 0);
    assert_int_equal(vmctld_reg_package_get(f->reg, SHA_A, &got),
                     VMCTLD_REG_ENOTFOUND);
}

static void
test_registry_commands_lifecycle_and_expiry(void **state)
{
    fixture_t *f = *state;
    uint8_t body[] = { 0x08, 0x01, 0x12, 0x00, 0xff };
    vmctld_reg_command_t c = { .device = "dev-1", .kind = "update",
                               .vm = "sensor", .body = body,
                               .body_len = sizeof(body), .created_ms = 100,
                               .expires_ms = 1000, .updated_ms = 100 };
    vmctld_reg_command_t got, *list;
    size_t n, nexp;

    open_ok(f);
    snprintf(c.id, sizeof(c.id), "c1");
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), VMCTLD_REG_EEXIST);
    snprintf(c.id, sizeof(c.id), "c2");
    c.created_ms = 200;
    c.expires_ms = 5000;
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    snprintf(c.id, sizeof(c.id), "c3");
    snprintf(c.device, sizeof(c.device), "dev-2");
    c.body = NULL;
    c.body_len = 0;
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);

    assert_int_equal(
        vmctld_reg_command_list_pending(f->reg, "dev-1", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "c1");
    assert_string_equal(list[1].id, "c2");
    assert_int_equal(list[0].state, VMCTLD_REG_CMD_QUEUED);
    assert_int_equal(list[0].body_len, sizeof(body));
    assert_memory_equal(list[0].body, body, sizeof(body));
    vmctld_reg_commands_free(list, n);

    assert_int_equal(vmctld_reg_command_update(f->reg, "c2",
                                               VMCTLD_REG_CMD_SENT, 0, NULL,
                                               300),
                     0);
    assert_int_equal(vmctld_reg_command_update(f->reg, "c2",
                                               VMCTLD_REG_CMD_DONE, 0, "ok",
                                               400),
                     0);
    /* A final state is final. */
    assert_int_equal(vmctld_reg_command_update(f->reg, "c2",
                                               VMCTLD_REG_CMD_SENT, 0, NULL,
                                               500),
                     VMCTLD_REG_ESTATE);
    assert_int_equal(vmctld_reg_command_update(f->reg, "zz",
                                               VMCTLD_REG_CMD_SENT, 0, NULL,
                                               500),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c2", &got), 0);
    assert_int_equal(got.state, VMCTLD_REG_CMD_DONE);
    assert_string_equal(got.message, "ok");
    assert_int_equal(got.updated_ms, 400);
    vmctld_reg_command_clear(&got);

    /* c1 expires at 1000, c3 (on dev-2) at 5000; c2 is done. */
    assert_int_equal(vmctld_reg_command_expire(f->reg, 999, &nexp), 0);
    assert_int_equal(nexp, 0);
    assert_int_equal(vmctld_reg_command_expire(f->reg, 1000, &nexp), 0);
    assert_int_equal(nexp, 1);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c1", &got), 0);
    assert_int_equal(got.state, VMCTLD_REG_CMD_EXPIRED);
    assert_int_equal(got.updated_ms, 1000);
    vmctld_reg_command_clear(&got);
    assert_int_equal(
        vmctld_reg_command_list_pending(f->reg, "dev-1", &list, &n), 0);
    assert_int_equal(n, 0);
    vmctld_reg_commands_free(list, n);
    /* The done command is not expired again; c3 goes at 5000. */
    assert_int_equal(vmctld_reg_command_expire(f->reg, 10000, &nexp), 0);
    assert_int_equal(nexp, 1);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c2", &got), 0);
    assert_int_equal(got.state, VMCTLD_REG_CMD_DONE);
    vmctld_reg_command_clear(&got);
}

static void
test_registry_rollouts_round_trip(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_package_t p = { .sha256 = SHA_A, .vm = "sensor",
                               .version = "2.1.0", .size = 1,
                               .path = "/s/a.vpk" };
    char target[] = "label:site=berlin";
    char params[] = "{\"canary\":1,\"batch\":\"25%\",\"max_failures\":2}";
    vmctld_reg_rollout_t ro = { .id = "r1", .vm = "sensor",
                                .package_sha = SHA_A, .target = target,
                                .params = params, .state = "running",
                                .created_ms = 10, .updated_ms = 10 };
    vmctld_reg_rollout_device_t rd = { .rollout = "r1", .device = "dev-b",
                                       .batch = 1, .state = "pending",
                                       .updated_ms = 10 };
    vmctld_reg_rollout_t got, *list;
    vmctld_reg_rollout_device_t *rds;
    size_t n;

    open_ok(f);
    /* The package must be stored first. */
    assert_int_equal(vmctld_reg_rollout_put(f->reg, &ro),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), 0);
    assert_int_equal(vmctld_reg_rollout_put(f->reg, &ro), 0);
    assert_int_equal(vmctld_reg_rollout_device_put(f->reg, &rd), 0);
    snprintf(rd.device, sizeof(rd.device), "dev-a");
    rd.batch = 0;
    assert_int_equal(vmctld_reg_rollout_device_put(f->reg, &rd), 0);
    snprintf(rd.rollout, sizeof(rd.rollout), "r-missing");
    assert_int_equal(vmctld_reg_rollout_device_put(f->reg, &rd),
                     VMCTLD_REG_ENOTFOUND);

    /* A state change through put keeps the per-device rows. */
    snprintf(ro.state, sizeof(ro.state), "paused");
    ro.updated_ms = 20;
    assert_int_equal(vmctld_reg_rollout_put(f->reg, &ro), 0);
    assert_int_equal(vmctld_reg_rollout_device_update(
                         f->reg, "r1", "dev-a", "failed", -3, "trap", 30),
                     0);
    assert_int_equal(vmctld_reg_rollout_device_update(
                         f->reg, "r1", "dev-x", "failed", -3, "trap", 30),
                     VMCTLD_REG_ENOTFOUND);
    /* A package in use cannot be deleted. */
    assert_int_equal(vmctld_reg_package_delete(f->reg, SHA_A),
                     VMCTLD_REG_EINUSE);

    reopen(f);
    assert_int_equal(vmctld_reg_rollout_get(f->reg, "r1", &got), 0);
    assert_string_equal(got.state, "paused");
    assert_string_equal(got.target, target);
    assert_string_equal(got.params, params);
    assert_int_equal(got.created_ms, 10);
    assert_int_equal(got.updated_ms, 20);
    vmctld_reg_rollout_clear(&got);
    assert_int_equal(vmctld_reg_rollout_list(f->reg, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].package_sha, SHA_A);
    vmctld_reg_rollouts_free(list, n);
    assert_int_equal(vmctld_reg_rollout_device_list(f->reg, "r1", &rds, &n),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(rds[0].device, "dev-a"); /* batch 0 first */
    assert_string_equal(rds[0].state, "failed");
    assert_int_equal(rds[0].code, -3);
    assert_string_equal(rds[0].message, "trap");
    assert_string_equal(rds[1].device, "dev-b");
    assert_int_equal(rds[1].batch, 1);
    vmctld_reg_rollout_devices_free(rds);
}

static void
test_registry_reopen_keeps_everything(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_label_t l[] = { { "site", "berlin" } };
    vmctld_reg_vm_t vm[] = { { .name = "sensor", .version = "1.2.3",
                               .state = "suspended", .memory_bytes = 1u << 20,
                               .storage_quota = 1u << 16,
                               .last_error = "none" } };
    vmctld_reg_package_t p = { .sha256 = SHA_B, .vm = "sensor",
                               .version = "1.2.3", .size = 5,
                               .path = "/s/b.vpk" };
    vmctld_reg_command_t c = { .id = "c9", .device = "dev-9",
                               .kind = "suspend", .vm = "sensor",
                               .expires_ms = 100000 };
    vmctld_reg_device_t d, *list;
    vmctld_reg_command_t *cl;
    vmctld_reg_package_t got;
    size_t n;

    open_ok(f);
    device_init(&d, "dev-9", l, 1, vm, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), 0);
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    reopen(f);

    assert_int_equal(vmctld_reg_device_list(f->reg, "site=berlin", &list, &n),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].boot_id, "boot-dev-9");
    assert_string_equal(list[0].ota_version, "1.0.1");
    assert_int_equal(list[0].n_vms, 1);
    assert_memory_equal(&list[0].vms[0], &vm[0], sizeof(vm[0]));
    vmctld_reg_devices_free(list, n);
    assert_int_equal(vmctld_reg_package_get(f->reg, SHA_B, &got), 0);
    assert_int_equal(
        vmctld_reg_command_list_pending(f->reg, "dev-9", &cl, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(cl[0].kind, "suspend");
    assert_null(cl[0].body);
    vmctld_reg_commands_free(cl, n);
}

/* Schema version 2 exactly as the first two migration steps wrote it. */
#define V2_SCHEMA                                                          \
    "PRAGMA application_id = 1447904836;"                                  \
    "CREATE TABLE devices (id TEXT PRIMARY KEY,"                           \
    " online INTEGER NOT NULL DEFAULT 0,"                                  \
    " last_seen_ms INTEGER NOT NULL DEFAULT 0,"                            \
    " runtime_version TEXT NOT NULL DEFAULT '',"                           \
    " ota_version TEXT NOT NULL DEFAULT '',"                               \
    " boot_id TEXT NOT NULL DEFAULT '');"                                  \
    "CREATE TABLE device_labels (device TEXT NOT NULL REFERENCES"          \
    " devices(id) ON DELETE CASCADE, key TEXT NOT NULL,"                   \
    " value TEXT NOT NULL, PRIMARY KEY (device, key));"                    \
    "CREATE TABLE device_vms (device TEXT NOT NULL REFERENCES"             \
    " devices(id) ON DELETE CASCADE, name TEXT NOT NULL,"                  \
    " version TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '',"   \
    " memory_bytes INTEGER NOT NULL DEFAULT 0,"                            \
    " storage_quota INTEGER NOT NULL DEFAULT 0,"                           \
    " restarts INTEGER NOT NULL DEFAULT 0,"                                \
    " last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY (device, name));"   \
    "CREATE TABLE packages (sha256 TEXT PRIMARY KEY, vm TEXT NOT NULL,"    \
    " version TEXT NOT NULL, size INTEGER NOT NULL,"                       \
    " key_id TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"       \
    " path TEXT NOT NULL);"                                                \
    "CREATE TABLE snapshots (sha256 TEXT PRIMARY KEY,"                     \
    " device TEXT NOT NULL, vm TEXT NOT NULL, size INTEGER NOT NULL,"      \
    " created_ms INTEGER NOT NULL, path TEXT NOT NULL);"                   \
    "CREATE TABLE commands (id TEXT PRIMARY KEY, device TEXT NOT NULL,"    \
    " kind TEXT NOT NULL, vm TEXT NOT NULL DEFAULT '', body BLOB,"         \
    " state TEXT NOT NULL"                                                 \
    " CHECK (state IN ('queued', 'sent', 'done', 'expired')),"             \
    " code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"  \
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"           \
    " updated_ms INTEGER NOT NULL);"                                       \
    "CREATE INDEX commands_device ON commands(device, state, created_ms);" \
    "CREATE INDEX commands_expiry ON commands(state, expires_ms);"         \
    "CREATE TABLE rollouts (id TEXT PRIMARY KEY, vm TEXT NOT NULL,"        \
    " package_sha TEXT NOT NULL REFERENCES packages(sha256),"              \
    " target TEXT NOT NULL, params TEXT NOT NULL DEFAULT '{}',"            \
    " state TEXT NOT NULL, created_ms INTEGER NOT NULL,"                   \
    " updated_ms INTEGER NOT NULL);"                                       \
    "CREATE INDEX rollouts_package ON rollouts(package_sha);"              \
    "CREATE TABLE rollout_devices (rollout TEXT NOT NULL REFERENCES"       \
    " rollouts(id) ON DELETE CASCADE, device TEXT NOT NULL,"               \
    " batch INTEGER NOT NULL, state TEXT NOT NULL,"                        \
    " code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"  \
    " updated_ms INTEGER NOT NULL, PRIMARY KEY (rollout, device));"

static void
test_registry_migrates_v2_to_v3_keeping_rows(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_command_t c, *list;
    vmctld_reg_rollout_t ro;
    vmctld_reg_rollout_device_t *rds;
    size_t n;

    raw(f, V2_SCHEMA
        "INSERT INTO packages VALUES ('" SHA_A "', 'sensor', '2.1.0', 10,"
        " 'k1', 5, '/s/a');"
        "INSERT INTO commands VALUES ('c-done', 'dev-1', 'start', 'sensor',"
        " NULL, 'done', 0, 'ok', 100, 1000, 200);"
        "INSERT INTO commands VALUES ('c-fail', 'dev-1', 'stop', 'sensor',"
        " NULL, 'done', 6, 'bad state', 110, 1000, 210);"
        "INSERT INTO commands VALUES ('c-sent', 'dev-1', 'update', 'sensor',"
        " x'0801', 'sent', 0, '', 120, 5000, 220);"
        "INSERT INTO rollouts VALUES ('r1', 'sensor', '" SHA_A "',"
        " 'all', '{}', 'running', 7, 8);"
        "INSERT INTO rollout_devices VALUES ('r1', 'dev-1', 0, 'sent', 0,"
        " '', 9);"
        "PRAGMA user_version = 2;");

    open_ok(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg),
                     VMCTLD_REG_SCHEMA_VERSION);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c-done", &c), 0);
    assert_int_equal(c.state, VMCTLD_REG_CMD_DONE);
    assert_string_equal(c.message, "ok");
    assert_string_equal(c.rollout, ""); /* the new columns' defaults */
    assert_int_equal(c.deadline_ms, 0);
    vmctld_reg_command_clear(&c);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c-fail", &c), 0);
    assert_int_equal(c.code, 6);
    vmctld_reg_command_clear(&c);
    assert_int_equal(vmctld_reg_command_list_unfinished(f->reg, &list, &n),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "c-sent");
    assert_int_equal(list[0].body_len, 2);
    vmctld_reg_commands_free(list, n);

    /* The rollout keeps its row and devices; it learnt its version. */
    assert_int_equal(vmctld_reg_rollout_get(f->reg, "r1", &ro), 0);
    assert_string_equal(ro.version, "2.1.0");
    assert_string_equal(ro.state, "running");
    assert_null(ro.blob);
    vmctld_reg_rollout_clear(&ro);
    assert_int_equal(vmctld_reg_rollout_device_list(f->reg, "r1", &rds, &n),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(rds[0].state, "sent");
    assert_string_equal(rds[0].command, "");
    vmctld_reg_rollout_devices_free(rds);

    /* The new states are accepted by the rebuilt table. */
    assert_int_equal(vmctld_reg_command_update(f->reg, "c-sent",
                                               VMCTLD_REG_CMD_ACCEPTED, 0,
                                               NULL, 300),
                     0);
    assert_int_equal(vmctld_reg_command_update(f->reg, "c-sent",
                                               VMCTLD_REG_CMD_TIMED_OUT, 0,
                                               "late", 400),
                     0);
    assert_int_equal(vmctld_reg_command_update(f->reg, "c-sent",
                                               VMCTLD_REG_CMD_CANCELLED, 0,
                                               NULL, 500),
                     VMCTLD_REG_ESTATE);

    /* The package is pinned while the rollout runs, not after; the
     * rollout's foreign key to its devices still cascades nothing away
     * (the rows are still there after the package went). */
    assert_int_equal(vmctld_reg_package_delete(f->reg, SHA_A),
                     VMCTLD_REG_EINUSE);
    raw(f, "UPDATE rollouts SET state = 'succeeded'");
    assert_int_equal(vmctld_reg_package_delete(f->reg, SHA_A), 0);
    assert_int_equal(vmctld_reg_rollout_device_list(f->reg, "r1", &rds, &n),
                     0);
    assert_int_equal(n, 1);
    vmctld_reg_rollout_devices_free(rds);
    assert_int_equal(vmctld_reg_rollout_get(f->reg, "r1", &ro), 0);
    vmctld_reg_rollout_clear(&ro);
    reopen(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg),
                     VMCTLD_REG_SCHEMA_VERSION);
}

static void
test_registry_v3_commands_save_and_list(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_command_t c = { .device = "dev-1", .kind = "snapshot",
                               .vm = "sensor", .created_ms = 100,
                               .expires_ms = 9000, .updated_ms = 100,
                               .timeout_s = 30, .rollout = "" };
    vmctld_reg_command_t got, *list;
    vmctld_reg_snapshot_t s = { .sha256 = SHA_B, .device = "dev-1",
                                .vm = "sensor", .size = 1,
                                .created_ms = 1, .path = "/s/b" };
    vmctld_reg_label_t l[] = { { "site", "berlin" } };
    vmctld_reg_device_t d;
    size_t n, i;

    open_ok(f);
    for (i = 0; i < 3; i++) {
        snprintf(c.id, sizeof(c.id), "c%zu", i);
        c.created_ms = 100 + (int64_t)i;
        assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    }
    /* Every changing field at once. */
    snprintf(c.id, sizeof(c.id), "c1");
    c.state = VMCTLD_REG_CMD_ACCEPTED;
    c.percent = 40;
    c.deadline_ms = 31000;
    c.updated_ms = 150;
    snprintf(c.message, sizeof(c.message), "uploading");
    assert_int_equal(vmctld_reg_command_save(f->reg, &c), 0);
    c.state = VMCTLD_REG_CMD_DONE;
    c.percent = 100;
    snprintf(c.snapshot, sizeof(c.snapshot), "%s", SHA_B);
    snprintf(c.version, sizeof(c.version), "1.2.3");
    assert_int_equal(vmctld_reg_command_save(f->reg, &c), 0);
    assert_int_equal(vmctld_reg_command_save(f->reg, &c), VMCTLD_REG_ESTATE);
    c.percent = 101;
    snprintf(c.id, sizeof(c.id), "c2");
    assert_int_equal(vmctld_reg_command_save(f->reg, &c), VMCTLD_REG_EINVAL);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c1", &got), 0);
    assert_int_equal(got.state, VMCTLD_REG_CMD_DONE);
    assert_int_equal(got.percent, 100);
    assert_int_equal(got.deadline_ms, 31000);
    assert_int_equal(got.timeout_s, 30);
    assert_string_equal(got.snapshot, SHA_B);
    assert_string_equal(got.version, "1.2.3");
    vmctld_reg_command_clear(&got);

    /* Newest first, limited; unfinished oldest first. */
    assert_int_equal(vmctld_reg_command_list(f->reg, NULL, 2, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "c2");
    assert_string_equal(list[1].id, "c1");
    vmctld_reg_commands_free(list, n);
    assert_int_equal(vmctld_reg_command_list(f->reg, "dev-2", 0, &list, &n),
                     0);
    assert_int_equal(n, 0);
    vmctld_reg_commands_free(list, n);
    assert_int_equal(vmctld_reg_command_list_unfinished(f->reg, &list, &n),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "c0");
    vmctld_reg_commands_free(list, n);

    /* A snapshot being restored cannot be deleted. */
    assert_int_equal(vmctld_reg_snapshot_put(f->reg, &s), 0);
    snprintf(c.id, sizeof(c.id), "c-restore");
    snprintf(c.kind, sizeof(c.kind), "restore");
    c.state = VMCTLD_REG_CMD_QUEUED;
    c.percent = 0;
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    assert_int_equal(vmctld_reg_snapshot_delete(f->reg, SHA_B),
                     VMCTLD_REG_EINUSE);
    assert_int_equal(vmctld_reg_command_update(f->reg, "c-restore",
                                               VMCTLD_REG_CMD_CANCELLED, 8,
                                               NULL, 1),
                     0);
    assert_int_equal(vmctld_reg_snapshot_delete(f->reg, SHA_B), 0);

    /* last_seen only moves forward. */
    device_init(&d, "dev-1", l, 1, NULL, 0);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    assert_int_equal(vmctld_reg_device_touch(f->reg, "dev-1", 5000), 0);
    assert_int_equal(vmctld_reg_device_touch(f->reg, "dev-1", 10), 0);
    assert_int_equal(vmctld_reg_device_touch(f->reg, "nope", 10),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &d), 0);
    assert_int_equal(d.last_seen_ms, 5000);
    vmctld_reg_device_clear(&d);
}

static void
test_registry_v3_rollout_create_is_all_or_nothing(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_package_t p = { .sha256 = SHA_A, .vm = "sensor",
                               .version = "2.1.0", .size = 1,
                               .path = "/s/a.vpk" };
    uint8_t blob[] = { 'V', 'R', 'O', '1', 0, 1, 2 };
    vmctld_reg_rollout_t ro = { .id = "r1", .vm = "sensor",
                                .package_sha = SHA_A, .target = "all",
                                .state = "pending", .created_ms = 1,
                                .updated_ms = 1, .version = "2.1.0",
                                .health_window_ms = 1500,
                                .device_timeout_s = 60, .blob = blob,
                                .blob_len = sizeof(blob) };
    vmctld_reg_rollout_device_t rds[2] = {
        { .rollout = "r1", .device = "d1", .batch = 0, .state = "waiting" },
        { .rollout = "r1", .device = "d2", .batch = 1, .state = "waiting",
          .command = "c-x" },
    };
    vmctld_reg_rollout_device_t *got;
    vmctld_reg_rollout_t back;
    size_t n;

    open_ok(f);
    /* No package: nothing at all is stored. */
    assert_int_equal(vmctld_reg_rollout_create(f->reg, &ro, rds, 2),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_rollout_get(f->reg, "r1", &back),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_package_put(f->reg, &p), 0);
    /* A row of another rollout: refused before anything is written. */
    snprintf(rds[1].rollout, sizeof(rds[1].rollout), "r2");
    assert_int_equal(vmctld_reg_rollout_create(f->reg, &ro, rds, 2),
                     VMCTLD_REG_EINVAL);
    snprintf(rds[1].rollout, sizeof(rds[1].rollout), "r1");
    assert_int_equal(vmctld_reg_rollout_create(f->reg, &ro, rds, 2), 0);
    assert_int_equal(vmctld_reg_rollout_create(f->reg, &ro, rds, 2),
                     VMCTLD_REG_EEXIST);

    reopen(f);
    assert_int_equal(vmctld_reg_rollout_get(f->reg, "r1", &back), 0);
    assert_int_equal(back.blob_len, sizeof(blob));
    assert_memory_equal(back.blob, blob, sizeof(blob));
    assert_int_equal(back.health_window_ms, 1500);
    assert_int_equal(back.device_timeout_s, 60);
    assert_string_equal(back.version, "2.1.0");
    vmctld_reg_rollout_clear(&back);
    assert_int_equal(vmctld_reg_rollout_device_list(f->reg, "r1", &got, &n),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(got[1].command, "c-x");
    vmctld_reg_rollout_devices_free(got);
}

static void
test_registry_batch_is_one_transaction(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_command_t c = { .id = "c1", .device = "dev-1",
                               .kind = "start", .expires_ms = 10 };
    vmctld_reg_vm_t bad[] = { { .name = "x" }, { .name = "x" } };
    vmctld_reg_device_t d;
    vmctld_reg_command_t got;
    vmctld_reg_t *other = NULL;

    open_ok(f);
    assert_int_equal(vmctld_reg_open(f->path, &other, f->err,
                                     sizeof(f->err)),
                     0);
    assert_int_equal(vmctld_reg_batch_end(f->reg), VMCTLD_REG_EINVAL);
    assert_int_equal(vmctld_reg_batch_begin(f->reg), 0);
    assert_int_equal(vmctld_reg_batch_begin(f->reg), VMCTLD_REG_EINVAL);
    assert_int_equal(vmctld_reg_command_put(f->reg, &c), 0);
    /* An all-or-nothing call that fails inside the batch undoes only its
     * own writes. */
    device_init(&d, "dev-1", NULL, 0, bad, 2);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), VMCTLD_REG_EEXIST);
    /* Another connection sees nothing before the end. */
    assert_int_equal(vmctld_reg_command_get(other, "c1", &got),
                     VMCTLD_REG_ENOTFOUND);
    assert_int_equal(vmctld_reg_batch_end(f->reg), 0);
    assert_int_equal(vmctld_reg_command_get(other, "c1", &got), 0);
    vmctld_reg_command_clear(&got);
    assert_int_equal(vmctld_reg_device_get(other, "dev-1", &d),
                     VMCTLD_REG_ENOTFOUND);
    vmctld_reg_close(other);
}

/* Schema version 3 exactly as the first three migration steps left it
 * (the tables rebuilt by step 3 under their final names). */
#define V3_SCHEMA                                                          \
    "PRAGMA application_id = 1447904836;"                                  \
    "CREATE TABLE devices (id TEXT PRIMARY KEY,"                           \
    " online INTEGER NOT NULL DEFAULT 0,"                                  \
    " last_seen_ms INTEGER NOT NULL DEFAULT 0,"                            \
    " runtime_version TEXT NOT NULL DEFAULT '',"                           \
    " ota_version TEXT NOT NULL DEFAULT '',"                               \
    " boot_id TEXT NOT NULL DEFAULT '');"                                  \
    "CREATE TABLE device_labels (device TEXT NOT NULL REFERENCES"          \
    " devices(id) ON DELETE CASCADE, key TEXT NOT NULL,"                   \
    " value TEXT NOT NULL, PRIMARY KEY (device, key));"                    \
    "CREATE INDEX device_labels_kv ON device_labels(key, value);"          \
    "CREATE TABLE device_vms (device TEXT NOT NULL REFERENCES"             \
    " devices(id) ON DELETE CASCADE, name TEXT NOT NULL,"                  \
    " version TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '',"   \
    " memory_bytes INTEGER NOT NULL DEFAULT 0,"                            \
    " storage_quota INTEGER NOT NULL DEFAULT 0,"                           \
    " restarts INTEGER NOT NULL DEFAULT 0,"                                \
    " last_error TEXT NOT NULL DEFAULT '', PRIMARY KEY (device, name));"   \
    "CREATE TABLE packages (sha256 TEXT PRIMARY KEY, vm TEXT NOT NULL,"    \
    " version TEXT NOT NULL, size INTEGER NOT NULL,"                       \
    " key_id TEXT NOT NULL DEFAULT '', created_ms INTEGER NOT NULL,"       \
    " path TEXT NOT NULL);"                                                \
    "CREATE TABLE snapshots (sha256 TEXT PRIMARY KEY,"                     \
    " device TEXT NOT NULL, vm TEXT NOT NULL, size INTEGER NOT NULL,"      \
    " created_ms INTEGER NOT NULL, path TEXT NOT NULL);"                   \
    "CREATE TABLE commands (id TEXT PRIMARY KEY, device TEXT NOT NULL,"    \
    " kind TEXT NOT NULL, vm TEXT NOT NULL DEFAULT '', body BLOB,"         \
    " state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'accepted',"  \
    " 'done', 'expired', 'timed_out', 'cancelled')),"                      \
    " code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"  \
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"           \
    " updated_ms INTEGER NOT NULL, version TEXT NOT NULL DEFAULT '',"      \
    " package TEXT NOT NULL DEFAULT '', snapshot TEXT NOT NULL DEFAULT '',"\
    " rollout TEXT NOT NULL DEFAULT '', percent INTEGER NOT NULL"          \
    " DEFAULT 0, timeout_s INTEGER NOT NULL DEFAULT 0,"                    \
    " deadline_ms INTEGER NOT NULL DEFAULT 0);"                            \
    "CREATE INDEX commands_device ON commands(device, created_ms);"        \
    "CREATE INDEX commands_created ON commands(created_ms);"               \
    "CREATE TABLE rollouts (id TEXT PRIMARY KEY, vm TEXT NOT NULL,"        \
    " package_sha TEXT NOT NULL, version TEXT NOT NULL DEFAULT '',"        \
    " target TEXT NOT NULL, params TEXT NOT NULL DEFAULT '{}',"            \
    " state TEXT NOT NULL, created_ms INTEGER NOT NULL,"                   \
    " updated_ms INTEGER NOT NULL,"                                        \
    " health_window_ms INTEGER NOT NULL DEFAULT 0,"                        \
    " device_timeout_s INTEGER NOT NULL DEFAULT 0, blob BLOB);"            \
    "CREATE TABLE rollout_devices (rollout TEXT NOT NULL REFERENCES"       \
    " rollouts(id) ON DELETE CASCADE, device TEXT NOT NULL,"               \
    " batch INTEGER NOT NULL, state TEXT NOT NULL,"                        \
    " code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"  \
    " updated_ms INTEGER NOT NULL, command TEXT NOT NULL DEFAULT '',"      \
    " PRIMARY KEY (rollout, device));"

static void
test_registry_migrates_v3_to_v4_keeping_rows(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_vm_t v[] = { { .name = "sensor", .version = "2.0.0",
                              .state = "running", .priority = 3,
                              .cpu_ms = 5000000000ull,
                              .uptime_ms = 7000000000ull } };
    vmctld_reg_device_t d, got;
    vmctld_reg_command_t c;
    vmctld_reg_fleet_t fl;

    raw(f, V3_SCHEMA
        "INSERT INTO devices VALUES ('dev-1', 1, 42, '0.9.0', '0.9.1',"
        " 'b1');"
        "INSERT INTO device_vms VALUES ('dev-1', 'sensor', '1.0.0',"
        " 'running', 65536, 4096, 2, '');"
        "INSERT INTO device_vms VALUES ('dev-1', 'logger', '0.1.0',"
        " 'failed', 0, 0, 5, 'trap: unreachable');"
        "INSERT INTO commands (id, device, kind, vm, state, created_ms,"
        " expires_ms, updated_ms) VALUES ('c-1', 'dev-1', 'start',"
        " 'sensor', 'accepted', 1, 2, 3);"
        "PRAGMA user_version = 3;");

    open_ok(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg), 4);
    /* The VM rows are kept, with the new columns at 0. */
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_int_equal(got.n_vms, 2);
    assert_string_equal(got.vms[0].name, "logger"); /* by name */
    assert_string_equal(got.vms[0].last_error, "trap: unreachable");
    assert_int_equal(got.vms[1].memory_bytes, 65536);
    assert_int_equal(got.vms[1].restarts, 2);
    assert_int_equal(got.vms[1].priority, 0);
    assert_true(got.vms[1].cpu_ms == 0 && got.vms[1].uptime_ms == 0);
    vmctld_reg_device_clear(&got);
    assert_int_equal(vmctld_reg_command_get(f->reg, "c-1", &c), 0);
    assert_int_equal(c.state, VMCTLD_REG_CMD_ACCEPTED);
    vmctld_reg_command_clear(&c);
    /* The summary's partial index finds the failing VM. */
    assert_int_equal(vmctld_reg_fleet_summary(f->reg, 10, &fl), 0);
    assert_int_equal(fl.n_failing, 1);
    assert_string_equal(fl.failing[0].vm, "logger");
    assert_int_equal(fl.failing[0].restarts, 5);
    vmctld_reg_fleet_clear(&fl);

    /* The new columns take 64-bit values and survive a reopen. */
    device_init(&d, "dev-1", NULL, 0, v, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    reopen(f);
    assert_int_equal(vmctld_reg_schema_version(f->reg), 4);
    assert_int_equal(vmctld_reg_device_get(f->reg, "dev-1", &got), 0);
    assert_int_equal(got.n_vms, 1);
    assert_int_equal(got.vms[0].priority, 3);
    assert_true(got.vms[0].cpu_ms == 5000000000ull);
    assert_true(got.vms[0].uptime_ms == 7000000000ull);
    vmctld_reg_device_clear(&got);
}

/* n devices "d-00".."d-NN": even ones online with label site=a, odd ones
 * offline with site=b; last_seen_ms falls as the number grows. */
static void
add_devices(fixture_t *f, int n)
{
    vmctld_reg_label_t la[] = { { "site", "a" }, { "hw", "r1" } };
    vmctld_reg_label_t lb[] = { { "site", "b" } };
    vmctld_reg_vm_t v[] = { { .name = "sensor", .version = "1.0.0",
                              .state = "running" } };
    vmctld_reg_device_t d;
    char id[16];
    int i;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "d-%02d", i);
        if (i % 2 == 0)
            device_init(&d, id, la, 2, v, 1);
        else
            device_init(&d, id, lb, 1, v, 1);
        d.online = i % 2 == 0;
        d.last_seen_ms = 100000 - i * 10;
        assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    }
}

static void
test_registry_v4_device_query_pages_and_filters(void **state)
{
    fixture_t *f = *state;
    const char *site_a[] = { "site=a", "hw=r1" }, *bad[] = { "nokey" };
    vmctld_reg_device_query_t q;
    vmctld_reg_device_t *l, d;
    vmctld_reg_vm_t v[] = { { .name = "x" } };
    size_t n, total;

    open_ok(f);
    add_devices(f, 25);
    /* A page, and the count of all. */
    memset(&q, 0, sizeof(q));
    q.online = VMCTLD_REG_ONLINE_ANY;
    q.limit = 10;
    q.offset = 20;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(total, 25);
    assert_int_equal(n, 5);
    assert_string_equal(l[0].id, "d-20");
    assert_string_equal(l[4].id, "d-24");
    assert_int_equal(l[0].n_vms, 1);   /* children come with a page */
    assert_int_equal(l[0].n_labels, 2);
    vmctld_reg_devices_free(l, n);
    /* Past the end: nothing, but still the total. */
    q.offset = 25;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(n, 0);
    assert_null(l);
    assert_int_equal(total, 25);
    /* Most recently seen first; limit 0 is all. */
    q.offset = 0;
    q.limit = 0;
    q.sort = VMCTLD_REG_SORT_SEEN;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, NULL), 0);
    assert_int_equal(n, 25);
    assert_string_equal(l[0].id, "d-24"); /* seen longest ago */
    vmctld_reg_devices_free(l, n);
    q.sort = VMCTLD_REG_SORT_ID_DESC;
    q.limit = 1;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, NULL), 0);
    assert_string_equal(l[0].id, "d-24");
    vmctld_reg_devices_free(l, n);
    q.sort = VMCTLD_REG_SORT_SEEN_DESC;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, NULL), 0);
    assert_string_equal(l[0].id, "d-00");
    vmctld_reg_devices_free(l, n);
    /* Filters AND-ed: two labels, online, and a search. */
    memset(&q, 0, sizeof(q));
    q.labels = site_a;
    q.nlabels = 2;
    q.online = VMCTLD_REG_ONLINE_ONLY;
    q.q = "D-1"; /* ASCII case does not matter */
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(total, 5); /* d-10, d-12, .. d-18 */
    assert_int_equal(n, 5);
    assert_string_equal(l[0].id, "d-10");
    assert_string_equal(l[4].id, "d-18");
    vmctld_reg_devices_free(l, n);
    q.online = VMCTLD_REG_OFFLINE_ONLY;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(total, 0);
    /* LIKE's wildcards are plain characters in q. */
    device_init(&d, "x_y", NULL, 0, v, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    device_init(&d, "xzy", NULL, 0, v, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    memset(&q, 0, sizeof(q));
    q.online = VMCTLD_REG_ONLINE_ANY;
    q.q = "x_";
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_string_equal(l[0].id, "x_y");
    vmctld_reg_devices_free(l, n);
    q.q = "%";
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total), 0);
    assert_int_equal(total, 0);
    /* Bad input: a label without '=', an unknown sort. */
    q.q = NULL;
    q.labels = bad;
    q.nlabels = 1;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total),
                     VMCTLD_REG_EINVAL);
    q.nlabels = 0;
    q.sort = (vmctld_reg_dev_sort_t)9;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total),
                     VMCTLD_REG_EINVAL);
    q.sort = VMCTLD_REG_SORT_ID;
    q.online = (vmctld_reg_online_t)7;
    assert_int_equal(vmctld_reg_device_query(f->reg, &q, &l, &n, &total),
                     VMCTLD_REG_EINVAL);
}

static void
test_registry_v4_fleet_summary_counts(void **state)
{
    fixture_t *f = *state;
    vmctld_reg_vm_t v1[] = {
        { .name = "logger", .version = "0.1.0", .state = "running" },
        { .name = "sensor", .version = "1.0.0", .state = "failed",
          .restarts = 4 },
    };
    vmctld_reg_vm_t v2[] = {
        { .name = "sensor", .version = "1.0.0", .state = "running",
          .last_error = "watchdog" },
    };
    vmctld_reg_vm_t v3[] = {
        { .name = "sensor", .version = "2.0.0", .state = "running" },
    };
    vmctld_reg_device_t d;
    vmctld_reg_fleet_t fl;

    open_ok(f);
    assert_int_equal(vmctld_reg_fleet_summary(f->reg, 100, &fl), 0);
    assert_int_equal(fl.devices, 0);
    assert_int_equal(fl.n_vms, 0);
    vmctld_reg_fleet_clear(&fl);
    device_init(&d, "dev-1", NULL, 0, v1, 2);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    device_init(&d, "dev-2", NULL, 0, v2, 1);
    d.online = false;
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);
    device_init(&d, "dev-3", NULL, 0, v3, 1);
    assert_int_equal(vmctld_reg_device_upsert(f->reg, &d), 0);

    assert_int_equal(vmctld_reg_fleet_summary(f->reg, 100, &fl), 0);
    assert_int_equal(fl.devices, 3);
    assert_int_equal(fl.online, 2);
    assert_int_equal(fl.n_vms, 3);
    assert_string_equal(fl.vms[0].name, "logger");
    assert_int_equal(fl.vms[0].devices, 1);
    assert_int_equal(fl.vms[0].running, 1);
    assert_int_equal(fl.vms[0].failing, 0);
    assert_string_equal(fl.vms[1].name, "sensor");
    assert_string_equal(fl.vms[1].version, "1.0.0");
    assert_int_equal(fl.vms[1].devices, 2);
    assert_int_equal(fl.vms[1].running, 1);
    assert_int_equal(fl.vms[1].failing, 2);
    assert_string_equal(fl.vms[2].version, "2.0.0");
    assert_int_equal(fl.vms[2].failing, 0);
    assert_int_equal(fl.n_failing, 2);
    assert_string_equal(fl.failing[0].device, "dev-1");
    assert_string_equal(fl.failing[0].state, "failed");
    assert_int_equal(fl.failing[0].restarts, 4);
    assert_string_equal(fl.failing[1].device, "dev-2");
    assert_string_equal(fl.failing[1].last_error, "watchdog");
    vmctld_reg_fleet_clear(&fl);
    assert_null(fl.vms);
    /* The failing list is capped; the counts are not. */
    assert_int_equal(vmctld_reg_fleet_summary(f->reg, 1, &fl), 0);
    assert_int_equal(fl.n_failing, 1);
    assert_int_equal(fl.vms[1].failing, 2);
    vmctld_reg_fleet_clear(&fl);
    vmctld_reg_fleet_clear(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_registry_fresh_db_gets_latest_schema_in_wal, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_migrates_v1_keeping_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_garbage_file_is_not_a_db, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_foreign_sqlite_db_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_device_upsert_replaces_vms_atomically, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_device_list_label_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_packages_and_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_commands_lifecycle_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_rollouts_round_trip,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_migrates_v2_to_v3_keeping_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_v3_commands_save_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_v3_rollout_create_is_all_or_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_batch_is_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_migrates_v3_to_v4_keeping_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_v4_device_query_pages_and_filters, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_registry_v4_fleet_summary_counts, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
