/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vmctld registry on SQLite (registry.h).  This is the only file that
 * includes sqlite3.h.  Every statement is prepared per call: the registry
 * is not on a hot path yet, and it keeps each function self-contained.
 *
 * Schema history lives in `migrations` below: step i takes user_version
 * from i to i + 1 and runs in one transaction together with the version
 * bump, so a crash leaves either the old or the new schema, never half.
 * Never edit a step that has shipped; append a new one.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "registry.h"
#include "registry_internal.h"

/* 'VMFD' in the SQLite header, so that we never migrate another
 * application's database into ours. */
#define APP_ID 0x564d4644
#define BUSY_TIMEOUT_MS 5000

struct vmctld_reg {
    sqlite3 *db;
    bool batch;                /* inside vmctld_reg_batch_begin() */
    char err[512];
};

static const struct {
    int code;
    const char *text;
} errtab[] = {
#define VMCTLD_REG_ERR_ROW(name, val, text) { (val), (text) },
    VMCTLD_REG_ERRORS(VMCTLD_REG_ERR_ROW)
#undef VMCTLD_REG_ERR_ROW
};

/* The SQL condition of a failing VM (vmctld_reg_failing_vm_t); the
 * partial index of migration 4 repeats it word for word, which is what
 * lets SQLite use that index. */
#define VM_FAILING "(state IN ('crashed', 'failed') OR last_error <> '')"

static const char *const migrations[] = {
    /* 0 -> 1: devices, their labels and VMs, the package and snapshot
     * store. */
    "CREATE TABLE devices ("
    "  id TEXT PRIMARY KEY,"
    "  online INTEGER NOT NULL DEFAULT 0,"
    "  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    "  runtime_version TEXT NOT NULL DEFAULT '',"
    "  ota_version TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE device_labels ("
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (device, key));"
    "CREATE INDEX device_labels_kv ON device_labels(key, value);"
    "CREATE TABLE device_vms ("
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  version TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL DEFAULT '',"
    "  memory_bytes INTEGER NOT NULL DEFAULT 0,"
    "  storage_quota INTEGER NOT NULL DEFAULT 0,"
    "  restarts INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (device, name));"
    "CREATE TABLE packages ("
    "  sha256 TEXT PRIMARY KEY,"
    "  vm TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  key_id TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  path TEXT NOT NULL);"
    "CREATE TABLE snapshots ("
    "  sha256 TEXT PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  vm TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  path TEXT NOT NULL);",

    /* 1 -> 2: boot ids, commands, rollouts. */
    "ALTER TABLE devices ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE commands ("
    "  id TEXT PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  vm TEXT NOT NULL DEFAULT '',"
    "  body BLOB,"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('queued', 'sent', 'done', 'expired')),"
    "  code INTEGER NOT NULL DEFAULT 0,"
    "  message TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX commands_device ON commands(device, state, created_ms);"
    "CREATE INDEX commands_expiry ON commands(state, expires_ms);"
    "CREATE TABLE rollouts ("
    "  id TEXT PRIMARY KEY,"
    "  vm TEXT NOT NULL,"
    "  package_sha TEXT NOT NULL REFERENCES packages(sha256),"
    "  target TEXT NOT NULL,"
    "  params TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL);"
    "CREATE INDEX rollouts_package ON rollouts(package_sha);"
    "CREATE TABLE rollout_devices ("
    "  rollout TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,"
    "  device TEXT NOT NULL,"
    "  batch INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  code INTEGER NOT NULL DEFAULT 0,"
    "  message TEXT NOT NULL DEFAULT '',"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (rollout, device));",

    /* 2 -> 3: vmctld's core (ctld.c).  Commands get the states of their
     * whole life and what they refer to; rollouts keep their state
     * machine (blob), their version and timings, and lose the foreign
     * key on packages so that a finished rollout does not pin its
     * package forever (an unfinished one still does, in
     * vmctld_reg_package_delete()); each rollout device names its
     * command.  Tables whose constraints change are rebuilt (SQLite's
     * ALTER TABLE cannot change a CHECK or drop a foreign key), with
     * foreign keys off for the step, see migrate(). */
    "CREATE TABLE commands_v3 ("
    "  id TEXT PRIMARY KEY,"
    "  device TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  vm TEXT NOT NULL DEFAULT '',"
    "  body BLOB,"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('queued', 'sent', 'accepted', 'done', 'expired',"
    "                     'timed_out', 'cancelled')),"
    "  code INTEGER NOT NULL DEFAULT 0,"
    "  message TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  version TEXT NOT NULL DEFAULT '',"
    "  package TEXT NOT NULL DEFAULT '',"
    "  snapshot TEXT NOT NULL DEFAULT '',"
    "  rollout TEXT NOT NULL DEFAULT '',"
    "  percent INTEGER NOT NULL DEFAULT 0,"
    "  timeout_s INTEGER NOT NULL DEFAULT 0,"
    "  deadline_ms INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO commands_v3 (id, device, kind, vm, body, state, code,"
    "  message, created_ms, expires_ms, updated_ms)"
    "  SELECT id, device, kind, vm, body, state, code, message, created_ms,"
    "  expires_ms, updated_ms FROM commands;"
    "DROP TABLE commands;"
    "ALTER TABLE commands_v3 RENAME TO commands;"
    "CREATE INDEX commands_device ON commands(device, created_ms);"
    "CREATE INDEX commands_created ON commands(created_ms);"
    "CREATE INDEX commands_unfinished ON commands(state, expires_ms)"
    "  WHERE state IN ('queued', 'sent', 'accepted');"
    "CREATE INDEX commands_package ON commands(package)"
    "  WHERE package <> '';"
    "CREATE INDEX commands_snapshot ON commands(snapshot)"
    "  WHERE snapshot <> '';"
    "CREATE TABLE rollouts_v3 ("
    "  id TEXT PRIMARY KEY,"
    "  vm TEXT NOT NULL,"
    "  package_sha TEXT NOT NULL,"
    "  version TEXT NOT NULL DEFAULT '',"
    "  target TEXT NOT NULL,"
    "  params TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  health_window_ms INTEGER NOT NULL DEFAULT 0,"
    "  device_timeout_s INTEGER NOT NULL DEFAULT 0,"
    "  blob BLOB);"
    "INSERT INTO rollouts_v3 (id, vm, package_sha, version, target, params,"
    "  state, created_ms, updated_ms)"
    "  SELECT r.id, r.vm, r.package_sha,"
    "  coalesce((SELECT p.version FROM packages p"
    "            WHERE p.sha256 = r.package_sha), ''),"
    "  r.target, r.params, r.state, r.created_ms, r.updated_ms"
    "  FROM rollouts r;"
    "DROP TABLE rollouts;"
    "ALTER TABLE rollouts_v3 RENAME TO rollouts;"
    "CREATE INDEX rollouts_package ON rollouts(package_sha, state);"
    "ALTER TABLE rollout_devices ADD COLUMN command TEXT NOT NULL"
    "  DEFAULT '';",

    /* 3 -> 4: the dashboard (issue 7).  VMs keep their priority, CPU
     * time and uptime as last reported; indexes for the device list's
     * sort and online filter, and for the fleet summary's GROUP BY and
     * its list of failing VMs (a partial index: few rows, found without
     * a scan of every VM of the fleet). */
    "ALTER TABLE device_vms ADD COLUMN priority INTEGER NOT NULL"
    "  DEFAULT 0;"
    "ALTER TABLE device_vms ADD COLUMN cpu_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE device_vms ADD COLUMN uptime_ms INTEGER NOT NULL"
    "  DEFAULT 0;"
    "CREATE INDEX devices_seen ON devices(last_seen_ms, id);"
    "CREATE INDEX devices_online ON devices(online, id);"
    "CREATE INDEX device_vms_version ON device_vms(name, version);"
    "CREATE INDEX device_vms_failing ON device_vms(device, name)"
    "  WHERE " VM_FAILING ";",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
                   VMCTLD_REG_SCHEMA_VERSION,
               "one migration step per schema version");

static const char *const cmd_state_names[] = {
    [VMCTLD_REG_CMD_QUEUED] = "queued",
    [VMCTLD_REG_CMD_SENT] = "sent",
    [VMCTLD_REG_CMD_DONE] = "done",
    [VMCTLD_REG_CMD_EXPIRED] = "expired",
    [VMCTLD_REG_CMD_ACCEPTED] = "accepted",
    [VMCTLD_REG_CMD_TIMED_OUT] = "timed_out",
    [VMCTLD_REG_CMD_CANCELLED] = "cancelled",
};

/* The SQL list of the states that are not final. */
#define CMD_UNFINISHED "('queued', 'sent', 'accepted')"
/* The SQL list of the rollout states that are not final
 * (vmctld_rollout_state_name()). */
#define RO_UNFINISHED "('pending', 'running', 'paused')"

const char *
vmctld_reg_strerror(int err)
{
    size_t i;

    if (err == 0)
        return "success";
    for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

const char *
vmctld_reg_errmsg(const vmctld_reg_t *reg)
{
    return reg != NULL ? reg->err : "no registry";
}

__attribute__((format(printf, 3, 4))) static int
fail(vmctld_reg_t *reg, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reg->err, sizeof(reg->err), fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * db_fail: record SQLite's last error on `reg` under the heading `what`.
 * Return: the VMCTLD_REG_E* code that matches the SQLite error: EEXIST for
 * a duplicate key, ENOTDB for a file that is not a database, EBUSY for a
 * lock held too long by another process, EDB for the rest.
 */
static int
db_fail(vmctld_reg_t *reg, const char *what)
{
    int xrc = sqlite3_extended_errcode(reg->db);
    int rc;

    switch (xrc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        rc = VMCTLD_REG_ENOTDB;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        rc = VMCTLD_REG_EBUSY;
        break;
    case SQLITE_NOMEM:
        rc = VMCTLD_REG_ENOMEM;
        break;
    case SQLITE_CONSTRAINT:
        rc = (xrc == SQLITE_CONSTRAINT_PRIMARYKEY ||
              xrc == SQLITE_CONSTRAINT_UNIQUE)
                 ? VMCTLD_REG_EEXIST
                 : VMCTLD_REG_EDB;
        break;
    default:
        rc = VMCTLD_REG_EDB;
        break;
    }
    return fail(reg, rc, "%s: %s", what, sqlite3_errmsg(reg->db));
}

static int
prepare(vmctld_reg_t *reg, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(reg->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(reg, "prepare");
    }
    return 0;
}

/* Run a statement that returns no rows, then finalize it. */
static int
step_done(vmctld_reg_t *reg, sqlite3_stmt *st, const char *what)
{
    int rc = 0;

    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(reg, what);
    sqlite3_finalize(st);
    return rc;
}

/*
 * step_row: step `st` to its first row.
 * Return: 0 on a row (the caller reads it, then finalizes `st`); else a
 * database error under the heading `what`, with `st` finalized.
 */
static int
step_row(vmctld_reg_t *reg, sqlite3_stmt *st, const char *what)
{
    int rc;

    if (sqlite3_step(st) == SQLITE_ROW)
        return 0;
    rc = db_fail(reg, what);
    sqlite3_finalize(st);
    return rc;
}

static int
exec(vmctld_reg_t *reg, const char *sql, const char *what)
{
    if (sqlite3_exec(reg->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(reg, what);
    return 0;
}

/*
 * A function that needs its writes all-or-nothing runs them between
 * begin() and commit() (or rollback()).  Inside a batch that is a
 * savepoint, so that the function's failure undoes its own writes only.
 */
static int
begin(vmctld_reg_t *reg)
{
    if (reg->batch)
        return exec(reg, "SAVEPOINT step", "begin savepoint");
    return exec(reg, "BEGIN IMMEDIATE", "begin transaction");
}

static int
commit(vmctld_reg_t *reg)
{
    if (reg->batch)
        return exec(reg, "RELEASE step", "release savepoint");
    return exec(reg, "COMMIT", "commit");
}

/* Roll back after a failure, keeping the first error's message. */
static void
rollback(vmctld_reg_t *reg)
{
    if (reg->batch)
        sqlite3_exec(reg->db, "ROLLBACK TO step; RELEASE step", NULL, NULL,
                     NULL);
    else
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

int
vmctld_reg_batch_begin(vmctld_reg_t *reg)
{
    int rc;

    if (reg == NULL || reg->batch)
        return VMCTLD_REG_EINVAL;
    if ((rc = exec(reg, "BEGIN IMMEDIATE", "begin batch")) != 0)
        return rc;
    reg->batch = true;
    return 0;
}

int
vmctld_reg_batch_end(vmctld_reg_t *reg)
{
    int rc;

    if (reg == NULL || !reg->batch)
        return VMCTLD_REG_EINVAL;
    reg->batch = false;
    if ((rc = exec(reg, "COMMIT", "commit batch")) != 0) {
        char why[sizeof(reg->err)];

        snprintf(why, sizeof(why), "%s", reg->err);
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
        return fail(reg, rc, "%s", why);
    }
    return 0;
}

static void
bind_str(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, idx);
    else
        sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}

/* Prepare `sql` and bind `key` to its ?1 (NULL binds SQL NULL). */
static int
prepare_key(vmctld_reg_t *reg, const char *sql, const char *key,
            sqlite3_stmt **st)
{
    int rc;

    if ((rc = prepare(reg, sql, st)) != 0)
        return rc;
    bind_str(*st, 1, key);
    return 0;
}

/* Run `sql`, which returns no rows, with `key` bound to ?1. */
static int
exec_key(vmctld_reg_t *reg, const char *sql, const char *key,
         const char *what)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare_key(reg, sql, key, &st)) != 0)
        return rc;
    return step_done(reg, st, what);
}

/*
 * count_key: run `sql`, a SELECT count(*) (or another integer) with `key`
 * bound to ?1.
 * Return: the count (>= 0), or a VMCTLD_REG_E* code (database errors
 * under the heading `what`).
 */
static int
count_key(vmctld_reg_t *reg, const char *sql, const char *key,
          const char *what)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare_key(reg, sql, key, &st)) != 0 ||
        (rc = step_row(reg, st, what)) != 0)
        return rc;
    rc = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static void
col_str(sqlite3_stmt *st, int col, char *buf, size_t len)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    snprintf(buf, len, "%s", s != NULL ? (const char *)s : "");
}

/* A malloc'd copy of a text column; NULL only when out of memory. */
static char *
col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *p = malloc(n + 1);

    if (p != NULL) {
        if (n > 0)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/*
 * check_str: validate a string argument or field of capacity `cap`.
 * Return: 0 if it is non-NULL, NUL-terminated within `cap` and (when
 * `need` is set) not empty; VMCTLD_REG_EINVAL naming `what` otherwise.
 */
static int
check_str(vmctld_reg_t *reg, const char *s, size_t cap, bool need,
          const char *what)
{
    size_t n;

    if (s == NULL)
        return fail(reg, VMCTLD_REG_EINVAL, "%s is missing", what);
    for (n = 0; n < cap && s[n] != '\0'; n++)
        ;
    if (n == cap)
        return fail(reg, VMCTLD_REG_EINVAL, "%s is longer than %zu bytes",
                    what, cap - 1);
    if (need && n == 0)
        return fail(reg, VMCTLD_REG_EINVAL, "%s is empty", what);
    return 0;
}

/*
 * grow: make room for one more element in a caller-owned array.
 * Return: 0, or VMCTLD_REG_ENOMEM with the array left as it was.
 */
static int
grow(vmctld_reg_t *reg, void **arr, size_t *cap, size_t n, size_t elem)
{
    void *p;
    size_t ncap;

    if (n < *cap)
        return 0;
    ncap = *cap != 0 ? *cap * 2 : 8;
    if ((p = realloc(*arr, ncap * elem)) == NULL)
        return fail(reg, VMCTLD_REG_ENOMEM, "out of memory for %zu rows",
                    ncap);
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

/*
 * A row decoder: fill `out` from the current row of `st`; `ctx` is the
 * caller's, passed through.  On failure the decoder leaves `out` owning
 * nothing and returns a VMCTLD_REG_E* code with the message set.
 */
typedef int (*row_fn)(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx,
                      void *out);

/*
 * get_one: run `sql` with `key` bound to ?1 and decode the single row
 * with `row` into `out`.
 * Return: 0; ENOTFOUND ("no `what` `key`"); the row decoder's error; or a
 * database error under the heading `dbwhat`.
 */
static int
get_one(vmctld_reg_t *reg, const char *sql, const char *key,
        const char *what, const char *dbwhat, row_fn row, void *out)
{
    sqlite3_stmt *st;
    int rc, s;

    if ((rc = prepare_key(reg, sql, key, &st)) != 0)
        return rc;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = row(reg, st, NULL, out);
    else if (s == SQLITE_DONE)
        rc = fail(reg, VMCTLD_REG_ENOTFOUND, "no %s %s", what, key);
    else
        rc = db_fail(reg, dbwhat);
    sqlite3_finalize(st);
    return rc;
}

/*
 * step_rows: step `st` to the end, appending every row decoded with `row`
 * to the array *arr of *n `elem`-byte records and *cap capacity (grow()).
 * Return: 0, or a VMCTLD_REG_E* code (database errors under the heading
 * `what`); either way *arr holds the *n rows decoded, for the caller to
 * keep or release.
 */
static int
step_rows(vmctld_reg_t *reg, sqlite3_stmt *st, const char *what,
          size_t elem, row_fn row, void *ctx, void **arr, size_t *cap,
          size_t *n)
{
    int rc, s;

    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = grow(reg, arr, cap, *n, elem)) != 0 ||
            (rc = row(reg, st, ctx, (char *)*arr + *n * elem)) != 0)
            return rc;
        (*n)++;
    }
    if (s != SQLITE_DONE)
        return db_fail(reg, what);
    return 0;
}

/*
 * list_rows: step the prepared (and bound) `st` to the end, decoding every
 * row with `row` into a growing array of `elem`-byte records; finalize
 * `st` in every case.  `clear` (may be NULL for records that own no
 * memory) releases one decoded record.
 * Return: 0 with `out` and `n` set (NULL and 0 when empty), or a
 * VMCTLD_REG_E* code (database errors under the heading `what`) with
 * nothing allocated.
 */
static int
list_rows(vmctld_reg_t *reg, sqlite3_stmt *st, const char *what,
          size_t elem, row_fn row, void *ctx, void (*clear)(void *),
          void **out, size_t *n)
{
    void *arr = NULL;
    size_t cap = 0, cnt = 0, i;
    int rc;

    rc = step_rows(reg, st, what, elem, row, ctx, &arr, &cap, &cnt);
    sqlite3_finalize(st);
    if (rc != 0) {
        for (i = 0; clear != NULL && i < cnt; i++)
            clear((char *)arr + i * elem);
        free(arr);
        return rc;
    }
    *out = arr;
    *n = cnt;
    return 0;
}

/*
 * list_by_key: list_rows() over `sql` with `key` bound to ?1 (NULL binds
 * SQL NULL; a statement without ?1 ignores it).
 */
static int
list_by_key(vmctld_reg_t *reg, const char *sql, const char *key,
            const char *what, size_t elem, row_fn row,
            void (*clear)(void *), void **out, size_t *n)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare_key(reg, sql, key, &st)) != 0)
        return rc;
    return list_rows(reg, st, what, elem, row, NULL, clear, out, n);
}

static int
pragma_int(vmctld_reg_t *reg, const char *sql, int *out)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(reg, sql, &st)) != 0 ||
        (rc = step_row(reg, st, sql)) != 0)
        return rc;
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int
vmctld_reg_schema_version(vmctld_reg_t *reg)
{
    int v = 0, rc;

    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = pragma_int(reg, "PRAGMA user_version", &v)) != 0)
        return rc;
    return v;
}

int
vmctld_reg_journal_mode(vmctld_reg_t *reg, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || buf == NULL || len == 0)
        return VMCTLD_REG_EINVAL;
    if ((rc = prepare(reg, "PRAGMA journal_mode", &st)) != 0 ||
        (rc = step_row(reg, st, "PRAGMA journal_mode")) != 0)
        return rc;
    col_str(st, 0, buf, len);
    sqlite3_finalize(st);
    return 0;
}

/*
 * fk_check: after a migration step, inside its transaction: the rebuilt
 * tables must leave no foreign key dangling.
 * Return: 0, or EDB naming the first table with a broken reference.
 */
static int
fk_check(vmctld_reg_t *reg)
{
    sqlite3_stmt *st;
    int rc, s;

    if ((rc = prepare(reg, "PRAGMA foreign_key_check", &st)) != 0)
        return rc;
    s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = fail(reg, VMCTLD_REG_EDB, "foreign key broken in table %s",
                  (const char *)sqlite3_column_text(st, 0));
    else if (s != SQLITE_DONE)
        rc = db_fail(reg, "foreign key check");
    sqlite3_finalize(st);
    return rc;
}

/*
 * migrate: bring the schema from its current user_version up to
 * VMCTLD_REG_SCHEMA_VERSION.  Foreign keys must be off (the caller turns
 * them on afterwards): a step that rebuilds a table drops the old one,
 * and with foreign keys on that would cascade into its children (the
 * procedure of SQLite's "Making Other Kinds Of Table Schema Changes").
 * Return: 0; ENOTDB when the file holds another application's tables;
 * ENEWER when it was written by a newer vmctld; EDB if a step failed
 * (that step is rolled back, earlier steps stay).
 */
static int
migrate(vmctld_reg_t *reg)
{
    int version = 0, app_id = 0, ntables = 0, rc;
    char sql[96];

    if ((rc = pragma_int(reg, "PRAGMA application_id", &app_id)) != 0 ||
        (rc = pragma_int(reg, "PRAGMA user_version", &version)) != 0 ||
        (rc = pragma_int(reg, "SELECT count(*) FROM sqlite_master",
                         &ntables)) != 0)
        return rc;
    if (app_id != APP_ID && (app_id != 0 || ntables != 0))
        return fail(reg, VMCTLD_REG_ENOTDB,
                    "not a vmctld database (application_id %#x, %d schema "
                    "objects); refusing to touch it",
                    (unsigned)app_id, ntables);
    if (version > VMCTLD_REG_SCHEMA_VERSION)
        return fail(reg, VMCTLD_REG_ENEWER,
                    "database schema version %d is newer than this vmctld "
                    "supports (%d); run a newer vmctld or restore a backup",
                    version, VMCTLD_REG_SCHEMA_VERSION);
    if (version < 0)
        return fail(reg, VMCTLD_REG_ENOTDB, "negative schema version %d",
                    version);
    for (; version < VMCTLD_REG_SCHEMA_VERSION; version++) {
        if ((rc = begin(reg)) != 0)
            return rc;
        snprintf(sql, sizeof(sql),
                 "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 APP_ID, version + 1);
        if ((rc = exec(reg, migrations[version], "migration")) != 0 ||
            (rc = fk_check(reg)) != 0 ||
            (rc = exec(reg, sql, "set schema version")) != 0 ||
            (rc = commit(reg)) != 0) {
            char why[sizeof(reg->err)];

            snprintf(why, sizeof(why), "%s", reg->err);
            rollback(reg);
            return fail(reg, rc, "migration %d -> %d failed: %s", version,
                        version + 1, why);
        }
    }
    return 0;
}

int
vmctld_reg_open(const char *path, vmctld_reg_t **out, char *err,
                size_t errlen)
{
    vmctld_reg_t *reg;
    char mode[16];
    int rc;

    if (path == NULL || out == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "no database path given");
        return VMCTLD_REG_EINVAL;
    }
    if ((reg = calloc(1, sizeof(*reg))) == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory");
        return VMCTLD_REG_ENOMEM;
    }
    if (sqlite3_open_v2(path, &reg->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_fail(reg, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(reg->db, 1);
    sqlite3_busy_timeout(reg->db, BUSY_TIMEOUT_MS);
    /* The first read of the file happens here, so this is where a file
     * that is not a database is found.  Foreign keys stay off while the
     * schema is migrated (see migrate()). */
    if ((rc = exec(reg, "PRAGMA foreign_keys = OFF", "foreign keys")) != 0 ||
        (rc = migrate(reg)) != 0 ||
        (rc = exec(reg, "PRAGMA foreign_keys = ON", "foreign keys")) != 0)
        goto fail;
    /* After the migrations: a refused file must not be turned into WAL. */
    if ((rc = exec(reg, "PRAGMA journal_mode = WAL", "WAL mode")) != 0 ||
        (rc = vmctld_reg_journal_mode(reg, mode, sizeof(mode))) != 0)
        goto fail;
    if (strcmp(mode, "wal") != 0 && strcmp(path, ":memory:") != 0) {
        rc = fail(reg, VMCTLD_REG_EDB,
                  "cannot turn on WAL mode (journal mode is %s)", mode);
        goto fail;
    }
    /* In WAL mode, NORMAL syncs at checkpoints instead of at every
     * commit: a crash of vmctld loses nothing, a power cut at most the
     * last commits.  vmctld commits per device message (thousands a
     * second in a rollout), which FULL would turn into as many fsyncs. */
    if ((rc = exec(reg, "PRAGMA synchronous = NORMAL", "synchronous")) != 0)
        goto fail;
    *out = reg;
    return 0;
fail:
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", path, reg->err);
    sqlite3_close(reg->db);
    free(reg);
    return rc;
}

void
vmctld_reg_close(vmctld_reg_t *reg)
{
    if (reg == NULL)
        return;
    sqlite3_close(reg->db);
    free(reg);
}

/* ---- devices ---------------------------------------------------------- */

static int
check_device(vmctld_reg_t *reg, const vmctld_reg_device_t *d)
{
    size_t i;
    int rc;

    if ((rc = check_str(reg, d->id, sizeof(d->id), true, "device id")) ||
        (rc = check_str(reg, d->runtime_version, sizeof(d->runtime_version),
                        false, "runtime_version")) ||
        (rc = check_str(reg, d->ota_version, sizeof(d->ota_version), false,
                        "ota_version")) ||
        (rc = check_str(reg, d->boot_id, sizeof(d->boot_id), false,
                        "boot_id")))
        return rc;
    if ((d->n_labels > 0 && d->labels == NULL) ||
        (d->n_vms > 0 && d->vms == NULL))
        return fail(reg, VMCTLD_REG_EINVAL, "device %s: NULL array", d->id);
    for (i = 0; i < d->n_labels; i++)
        if ((rc = check_str(reg, d->labels[i].key, sizeof(d->labels[i].key),
                            true, "label key")) ||
            (rc = check_str(reg, d->labels[i].value,
                            sizeof(d->labels[i].value), false,
                            "label value")))
            return rc;
    for (i = 0; i < d->n_vms; i++)
        if ((rc = check_str(reg, d->vms[i].name, sizeof(d->vms[i].name),
                            true, "vm name")) ||
            (rc = check_str(reg, d->vms[i].version,
                            sizeof(d->vms[i].version), false, "vm version")) ||
            (rc = check_str(reg, d->vms[i].state, sizeof(d->vms[i].state),
                            false, "vm state")) ||
            (rc = check_str(reg, d->vms[i].last_error,
                            sizeof(d->vms[i].last_error), false,
                            "vm last_error")))
            return rc;
    return 0;
}

/* The body of vmctld_reg_device_upsert(), inside its transaction. */
static int
device_write(vmctld_reg_t *reg, const vmctld_reg_device_t *d)
{
    sqlite3_stmt *st;
    size_t i;
    int rc;

    if ((rc = prepare(reg,
                      "INSERT INTO devices (id, online, last_seen_ms,"
                      " runtime_version, ota_version, boot_id)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                      " ON CONFLICT(id) DO UPDATE SET online = ?2,"
                      " last_seen_ms = ?3, runtime_version = ?4,"
                      " ota_version = ?5, boot_id = ?6",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, d->id);
    sqlite3_bind_int(st, 2, d->online ? 1 : 0);
    sqlite3_bind_int64(st, 3, d->last_seen_ms);
    bind_str(st, 4, d->runtime_version);
    bind_str(st, 5, d->ota_version);
    bind_str(st, 6, d->boot_id);
    if ((rc = step_done(reg, st, "write device")) != 0 ||
        (rc = exec_key(reg, "DELETE FROM device_labels WHERE device = ?1",
                       d->id, "clear labels")) != 0 ||
        (rc = exec_key(reg, "DELETE FROM device_vms WHERE device = ?1",
                       d->id, "clear vms")) != 0)
        return rc;


    if ((rc = prepare(reg,
                      "INSERT INTO device_labels (device, key, value)"
                      " VALUES (?1, ?2, ?3)",
                      &st)) != 0)
        return rc;
    for (i = 0; i < d->n_labels && rc == 0; i++) {
        sqlite3_reset(st);
        bind_str(st, 1, d->id);
        bind_str(st, 2, d->labels[i].key);
        bind_str(st, 3, d->labels[i].value);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(reg, "write label");
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;

    if ((rc = prepare(reg,
                      "INSERT INTO device_vms (device, name, version, state,"
                      " memory_bytes, storage_quota, restarts, last_error,"
                      " priority, cpu_ms, uptime_ms)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                      " ?11)",
                      &st)) != 0)
        return rc;
    for (i = 0; i < d->n_vms && rc == 0; i++) {
        const vmctld_reg_vm_t *vm = &d->vms[i];

        sqlite3_reset(st);
        bind_str(st, 1, d->id);
        bind_str(st, 2, vm->name);
        bind_str(st, 3, vm->version);
        bind_str(st, 4, vm->state);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)vm->memory_bytes);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)vm->storage_quota);
        sqlite3_bind_int64(st, 7, vm->restarts);
        bind_str(st, 8, vm->last_error);
        sqlite3_bind_int64(st, 9, vm->priority);
        sqlite3_bind_int64(st, 10, (sqlite3_int64)vm->cpu_ms);
        sqlite3_bind_int64(st, 11, (sqlite3_int64)vm->uptime_ms);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(reg, "write vm");
    }
    sqlite3_finalize(st);
    return rc;
}

int
vmctld_reg_device_upsert(vmctld_reg_t *reg, const vmctld_reg_device_t *dev)
{
    int rc;

    if (reg == NULL || dev == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_device(reg, dev)) != 0 || (rc = begin(reg)) != 0)
        return rc;
    if ((rc = device_write(reg, dev)) != 0 || (rc = commit(reg)) != 0) {
        rollback(reg);
        return rc;
    }
    return 0;
}

void
vmctld_reg_device_clear(vmctld_reg_device_t *dev)
{
    if (dev == NULL)
        return;
    free(dev->labels);
    free(dev->vms);
    dev->labels = NULL;
    dev->vms = NULL;
    dev->n_labels = 0;
    dev->n_vms = 0;
}

void
vmctld_reg_devices_free(vmctld_reg_device_t *devs, size_t n)
{
    size_t i;

    if (devs == NULL)
        return;
    for (i = 0; i < n; i++)
        vmctld_reg_device_clear(&devs[i]);
    free(devs);
}

#define DEVICE_COLS \
    "id, online, last_seen_ms, runtime_version, ota_version, boot_id"

static int
device_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_device_t *d = out;

    (void)reg;
    (void)ctx;
    memset(d, 0, sizeof(*d));
    col_str(st, 0, d->id, sizeof(d->id));
    d->online = sqlite3_column_int(st, 1) != 0;
    d->last_seen_ms = sqlite3_column_int64(st, 2);
    col_str(st, 3, d->runtime_version, sizeof(d->runtime_version));
    col_str(st, 4, d->ota_version, sizeof(d->ota_version));
    col_str(st, 5, d->boot_id, sizeof(d->boot_id));
    return 0;
}

static int
label_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_label_t *l = out;

    (void)reg;
    (void)ctx;
    col_str(st, 0, l->key, sizeof(l->key));
    col_str(st, 1, l->value, sizeof(l->value));
    return 0;
}

static int
vm_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_vm_t *vm = out;

    (void)reg;
    (void)ctx;
    col_str(st, 0, vm->name, sizeof(vm->name));
    col_str(st, 1, vm->version, sizeof(vm->version));
    col_str(st, 2, vm->state, sizeof(vm->state));
    vm->memory_bytes = (uint64_t)sqlite3_column_int64(st, 3);
    vm->storage_quota = (uint64_t)sqlite3_column_int64(st, 4);
    vm->restarts = (uint32_t)sqlite3_column_int64(st, 5);
    col_str(st, 6, vm->last_error, sizeof(vm->last_error));
    vm->priority = (uint32_t)sqlite3_column_int64(st, 7);
    vm->cpu_ms = (uint64_t)sqlite3_column_int64(st, 8);
    vm->uptime_ms = (uint64_t)sqlite3_column_int64(st, 9);
    return 0;
}

/*
 * device_children: load the labels and VMs of `d` with the two prepared
 * statements (each takes the device id as ?1).
 * Return: 0, or a VMCTLD_REG_E* code with `d` cleared.
 */
static int
device_children(vmctld_reg_t *reg, vmctld_reg_device_t *d,
                sqlite3_stmt *labels, sqlite3_stmt *vms)
{
    size_t cap = 0;
    int rc;

    sqlite3_reset(labels);
    bind_str(labels, 1, d->id);
    if ((rc = step_rows(reg, labels, "read labels", sizeof(*d->labels),
                        label_row, NULL, (void **)&d->labels, &cap,
                        &d->n_labels)) != 0)
        goto fail;
    cap = 0;
    sqlite3_reset(vms);
    bind_str(vms, 1, d->id);
    if ((rc = step_rows(reg, vms, "read vms", sizeof(*d->vms), vm_row, NULL,
                        (void **)&d->vms, &cap, &d->n_vms)) != 0)
        goto fail;
    return 0;
fail:
    vmctld_reg_device_clear(d);
    return rc;
}

static int
prepare_children(vmctld_reg_t *reg, sqlite3_stmt **labels,
                 sqlite3_stmt **vms)
{
    int rc;

    if ((rc = prepare(reg,
                      "SELECT key, value FROM device_labels"
                      " WHERE device = ?1 ORDER BY key",
                      labels)) != 0)
        return rc;
    if ((rc = prepare(reg,
                      "SELECT name, version, state, memory_bytes,"
                      " storage_quota, restarts, last_error, priority,"
                      " cpu_ms, uptime_ms"
                      " FROM device_vms WHERE device = ?1 ORDER BY name",
                      vms)) != 0) {
        sqlite3_finalize(*labels);
        return rc;
    }
    return 0;
}

int
vmctld_reg_device_get(vmctld_reg_t *reg, const char *id,
                      vmctld_reg_device_t *out)
{
    sqlite3_stmt *labels, *vms;
    int rc;

    if (reg == NULL || out == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, id, VMCTLD_REG_ID_MAX, true, "device id")) != 0)
        return rc;
    if ((rc = get_one(reg, "SELECT " DEVICE_COLS " FROM devices WHERE id = ?1",
                      id, "device", "read device", device_row, out)) != 0)
        return rc;
    if ((rc = prepare_children(reg, &labels, &vms)) != 0)
        return rc;
    rc = device_children(reg, out, labels, vms);
    sqlite3_finalize(labels);
    sqlite3_finalize(vms);
    return rc;
}

/* The two child statements of device_list_row(), as its `ctx`. */
struct device_children_st {
    sqlite3_stmt *labels;
    sqlite3_stmt *vms;
};

/* A list row: the device, then its labels and VMs. */
static int
device_list_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    struct device_children_st *ch = ctx;

    device_row(reg, st, NULL, out);
    return device_children(reg, out, ch->labels, ch->vms);
}

static void
device_clear_v(void *d)
{
    vmctld_reg_device_clear(d);
}

/*
 * list_devices: list_rows() of the devices that `st` selects (finalized
 * in every case), each with its labels and VMs.
 */
static int
list_devices(vmctld_reg_t *reg, sqlite3_stmt *st, vmctld_reg_device_t **out,
             size_t *n)
{
    struct device_children_st ch;
    int rc;

    if ((rc = prepare_children(reg, &ch.labels, &ch.vms)) != 0) {
        sqlite3_finalize(st);
        return rc;
    }
    rc = list_rows(reg, st, "list devices", sizeof(**out), device_list_row,
                   &ch, device_clear_v, (void **)out, n);
    sqlite3_finalize(ch.labels);
    sqlite3_finalize(ch.vms);
    return rc;
}

int
vmctld_reg_device_list(vmctld_reg_t *reg, const char *label_filter,
                       vmctld_reg_device_t **out, size_t *n)
{
    sqlite3_stmt *st;
    char key[VMCTLD_REG_NAME_MAX], value[VMCTLD_REG_LABEL_MAX];
    const char *eq;
    int rc;

    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    if (label_filter != NULL) {
        eq = strchr(label_filter, '=');
        if (eq == NULL || eq == label_filter ||
            (size_t)(eq - label_filter) >= sizeof(key) ||
            strlen(eq + 1) >= sizeof(value))
            return fail(reg, VMCTLD_REG_EINVAL,
                        "label filter '%s' is not key=value", label_filter);
        memcpy(key, label_filter, (size_t)(eq - label_filter));
        key[eq - label_filter] = '\0';
        snprintf(value, sizeof(value), "%s", eq + 1);
    }
    if ((rc = prepare(reg,
                      label_filter == NULL
                          ? "SELECT " DEVICE_COLS " FROM devices ORDER BY id"
                          : "SELECT " DEVICE_COLS " FROM devices WHERE id IN"
                            " (SELECT device FROM device_labels"
                            " WHERE key = ?1 AND value = ?2) ORDER BY id",
                      &st)) != 0)
        return rc;
    if (label_filter != NULL) {
        bind_str(st, 1, key);
        bind_str(st, 2, value);
    }
    return list_devices(reg, st, out, n);
}

/* ---- device pages and the fleet summary ----------------------------- */

#define QUERY_LABELS_MAX 32 /* label filters in one query */
#define QUERY_SQL_MAX 4096  /* a WHERE clause with every filter fits */

/*
 * sql_add: append formatted text to sql[0..cap) at *len.
 * Return: true if it fitted; false leaves *len past the end (>= cap), so
 * that every later append fails too.
 */
__attribute__((format(printf, 4, 5))) static bool
sql_add(char *sql, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= cap)
        return false;
    va_start(ap, fmt);
    n = vsnprintf(sql + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = n < 0 ? cap : *len + (size_t)n;
    return *len < cap;
}

/*
 * read_begin: a read transaction, so that several statements see one
 * snapshot, unless one is open already (a batch).
 * Return: 0 with *began set when this call opened it, or a db error.
 */
static int
read_begin(vmctld_reg_t *reg, bool *began)
{
    *began = false;
    if (!sqlite3_get_autocommit(reg->db))
        return 0;
    if (sqlite3_exec(reg->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(reg, "begin read");
    *began = true;
    return 0;
}

static void
read_end(vmctld_reg_t *reg, bool began)
{
    if (began)
        sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL);
}

/*
 * query_where: append the WHERE clause of `q` to sql[0..cap) and build
 * the LIKE pattern of q->q into pat (2 * VMCTLD_REG_ID_MAX + 3 bytes).
 * Parameters are numbered in the order query_bind() binds them.
 * Return: 0, or EINVAL (a bad label filter, q too long, too many
 * filters).
 */
static int
query_where(vmctld_reg_t *reg, const vmctld_reg_device_query_t *q,
            char *sql, size_t cap, char *pat)
{
    size_t len = strlen(sql), i, k = 0;
    const char *eq, *s;
    int idx = 1;

    if (q->nlabels > QUERY_LABELS_MAX || (q->nlabels > 0 && !q->labels))
        return fail(reg, VMCTLD_REG_EINVAL, "more than %d label filters",
                    QUERY_LABELS_MAX);
    sql_add(sql, cap, &len, " WHERE 1");
    if (q->online != VMCTLD_REG_ONLINE_ANY)
        sql_add(sql, cap, &len, " AND online = ?%d", idx++);
    for (i = 0; i < q->nlabels; i++) {
        eq = q->labels[i] != NULL ? strchr(q->labels[i], '=') : NULL;
        if (eq == NULL || eq == q->labels[i] ||
            (size_t)(eq - q->labels[i]) >= VMCTLD_REG_NAME_MAX ||
            strlen(eq + 1) >= VMCTLD_REG_LABEL_MAX)
            return fail(reg, VMCTLD_REG_EINVAL,
                        "label filter '%s' is not key=value",
                        q->labels[i] != NULL ? q->labels[i] : "(null)");
        sql_add(sql, cap, &len,
                " AND id IN (SELECT device FROM device_labels"
                " WHERE key = ?%d AND value = ?%d)",
                idx, idx + 1);
        idx += 2;
    }
    pat[0] = '\0';
    if (q->q != NULL && q->q[0] != '\0') {
        if (strlen(q->q) >= VMCTLD_REG_ID_MAX)
            return fail(reg, VMCTLD_REG_EINVAL,
                        "search text is longer than %d bytes",
                        VMCTLD_REG_ID_MAX - 1);
        pat[k++] = '%';
        for (s = q->q; *s != '\0'; s++) {
            if (*s == '%' || *s == '_' || *s == '\\')
                pat[k++] = '\\';
            pat[k++] = *s;
        }
        pat[k++] = '%';
        pat[k] = '\0';
        sql_add(sql, cap, &len, " AND id LIKE ?%d ESCAPE '\\'", idx++);
    }
    if (len >= cap)
        return fail(reg, VMCTLD_REG_EINVAL, "query too long");
    return 0;
}

/* Bind what query_where() numbered; `pat` is its LIKE pattern. */
static void
query_bind(sqlite3_stmt *st, const vmctld_reg_device_query_t *q,
           const char *pat)
{
    const char *eq;
    size_t i;
    int idx = 1;

    if (q->online != VMCTLD_REG_ONLINE_ANY)
        sqlite3_bind_int(st, idx++,
                         q->online == VMCTLD_REG_ONLINE_ONLY ? 1 : 0);
    for (i = 0; i < q->nlabels; i++) {
        eq = strchr(q->labels[i], '=');
        sqlite3_bind_text(st, idx++, q->labels[i], (int)(eq - q->labels[i]),
                          SQLITE_STATIC);
        sqlite3_bind_text(st, idx++, eq + 1, -1, SQLITE_STATIC);
    }
    if (pat[0] != '\0')
        sqlite3_bind_text(st, idx++, pat, -1, SQLITE_STATIC);
}

int
vmctld_reg_device_query(vmctld_reg_t *reg,
                        const vmctld_reg_device_query_t *q,
                        vmctld_reg_device_t **out, size_t *n, size_t *total)
{
    static const char *const order[] = {
        [VMCTLD_REG_SORT_ID] = " ORDER BY id",
        [VMCTLD_REG_SORT_ID_DESC] = " ORDER BY id DESC",
        [VMCTLD_REG_SORT_SEEN] = " ORDER BY last_seen_ms, id",
        [VMCTLD_REG_SORT_SEEN_DESC] = " ORDER BY last_seen_ms DESC, id DESC",
    };
    char where[QUERY_SQL_MAX] = "", sql[QUERY_SQL_MAX + 256];
    char pat[2 * VMCTLD_REG_ID_MAX + 3];
    sqlite3_stmt *st = NULL;
    size_t len;
    bool began;
    int rc;

    if (reg == NULL || q == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    *out = NULL;
    *n = 0;
    if ((int)q->sort < 0 ||
        (size_t)q->sort >= sizeof(order) / sizeof(order[0]))
        return fail(reg, VMCTLD_REG_EINVAL, "unknown sort %d", (int)q->sort);
    if ((int)q->online < VMCTLD_REG_ONLINE_ANY ||
        (int)q->online > VMCTLD_REG_OFFLINE_ONLY)
        return fail(reg, VMCTLD_REG_EINVAL, "unknown online filter %d",
                    (int)q->online);
    if ((rc = query_where(reg, q, where, sizeof(where), pat)) != 0)
        return rc;
    if ((rc = read_begin(reg, &began)) != 0)
        return rc;
    if (total != NULL) {
        len = 0;
        sql_add(sql, sizeof(sql), &len, "SELECT count(*) FROM devices%s",
                where);
        if ((rc = prepare(reg, sql, &st)) != 0)
            goto out;
        query_bind(st, q, pat);
        if ((rc = step_row(reg, st, "count devices")) != 0)
            goto out;
        *total = (size_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    /* LIMIT -1 is SQLite's "no limit". */
    len = 0;
    sql_add(sql, sizeof(sql), &len,
            "SELECT " DEVICE_COLS " FROM devices%s%s LIMIT ?90 OFFSET ?91",
            where, order[q->sort]);
    if ((rc = prepare(reg, sql, &st)) != 0)
        goto out;
    query_bind(st, q, pat);
    sqlite3_bind_int64(st, 90,
                       q->limit == 0 || q->limit > INT64_MAX
                           ? -1
                           : (sqlite3_int64)q->limit);
    sqlite3_bind_int64(st, 91,
                       q->offset > INT64_MAX ? INT64_MAX
                                             : (sqlite3_int64)q->offset);
    rc = list_devices(reg, st, out, n);
out:
    read_end(reg, began);
    return rc;
}

void
vmctld_reg_fleet_clear(vmctld_reg_fleet_t *f)
{
    if (f == NULL)
        return;
    free(f->vms);
    free(f->failing);
    memset(f, 0, sizeof(*f));
}

static int
vm_version_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_vm_version_t *v = out;

    (void)reg;
    (void)ctx;
    col_str(st, 0, v->name, sizeof(v->name));
    col_str(st, 1, v->version, sizeof(v->version));
    v->devices = (size_t)sqlite3_column_int64(st, 2);
    v->running = (size_t)sqlite3_column_int64(st, 3);
    v->failing = (size_t)sqlite3_column_int64(st, 4);
    return 0;
}

static int
failing_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_failing_vm_t *v = out;

    (void)reg;
    (void)ctx;
    col_str(st, 0, v->device, sizeof(v->device));
    col_str(st, 1, v->vm, sizeof(v->vm));
    col_str(st, 2, v->state, sizeof(v->state));
    col_str(st, 3, v->last_error, sizeof(v->last_error));
    v->restarts = (uint32_t)sqlite3_column_int64(st, 4);
    return 0;
}

int
vmctld_reg_fleet_summary(vmctld_reg_t *reg, size_t failing_max,
                         vmctld_reg_fleet_t *out)
{
    sqlite3_stmt *st;
    bool began;
    int rc;

    if (reg == NULL || out == NULL)
        return VMCTLD_REG_EINVAL;
    memset(out, 0, sizeof(*out));
    if ((rc = read_begin(reg, &began)) != 0)
        return rc;
    if ((rc = prepare(reg,
                      "SELECT count(*), coalesce(sum(online <> 0), 0)"
                      " FROM devices",
                      &st)) != 0 ||
        (rc = step_row(reg, st, "count devices")) != 0)
        goto out;
    out->devices = (size_t)sqlite3_column_int64(st, 0);
    out->online = (size_t)sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if ((rc = prepare(reg,
                      "SELECT name, version, count(*),"
                      " sum(state = 'running'), sum(" VM_FAILING ")"
                      " FROM device_vms GROUP BY name, version"
                      " ORDER BY name, version",
                      &st)) != 0 ||
        (rc = list_rows(reg, st, "count vm versions", sizeof(*out->vms),
                        vm_version_row, NULL, NULL, (void **)&out->vms,
                        &out->n_vms)) != 0)
        goto out;
    if (failing_max > 0) {
        if ((rc = prepare(reg,
                          "SELECT device, name, state, last_error, restarts"
                          " FROM device_vms WHERE " VM_FAILING
                          " ORDER BY device, name LIMIT ?1",
                          &st)) != 0)
            goto out;
        sqlite3_bind_int64(st, 1,
                           failing_max > INT64_MAX
                               ? INT64_MAX
                               : (sqlite3_int64)failing_max);
        rc = list_rows(reg, st, "list failing vms", sizeof(*out->failing),
                       failing_row, NULL, NULL, (void **)&out->failing,
                       &out->n_failing);
    }
out:
    read_end(reg, began);
    if (rc != 0)
        vmctld_reg_fleet_clear(out);
    return rc;
}

/*
 * device_seen: run `sql`, an UPDATE of device ?1 at the time ?2.
 * Return: 0; EINVAL for a bad id; ENOTFOUND when there is no such device;
 * or a database error under the heading `what`.
 */
static int
device_seen(vmctld_reg_t *reg, const char *sql, const char *id,
            int64_t ms, const char *what)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, id, VMCTLD_REG_ID_MAX, true, "device id")) != 0)
        return rc;
    if ((rc = prepare_key(reg, sql, id, &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 2, ms);
    if ((rc = step_done(reg, st, what)) != 0)
        return rc;
    if (sqlite3_changes(reg->db) == 0)
        return fail(reg, VMCTLD_REG_ENOTFOUND, "no device %s", id);
    return 0;
}

int
vmctld_reg_device_mark_offline(vmctld_reg_t *reg, const char *id,
                               int64_t now_ms)
{
    return device_seen(reg,
                       "UPDATE devices SET online = 0, last_seen_ms ="
                       " max(last_seen_ms, ?2) WHERE id = ?1",
                       id, now_ms, "mark offline");
}

int
vmctld_reg_device_touch(vmctld_reg_t *reg, const char *id, int64_t seen_ms)
{
    return device_seen(reg,
                       "UPDATE devices SET last_seen_ms ="
                       " max(last_seen_ms, ?2) WHERE id = ?1",
                       id, seen_ms, "touch device");
}


/* ---- packages and snapshots ------------------------------------------ */

/* True for exactly 64 lowercase hex digits. */
static bool
is_sha_hex(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static int
check_sha(vmctld_reg_t *reg, const char *sha)
{
    int rc;

    if ((rc = check_str(reg, sha, VMCTLD_REG_SHA_HEX, true, "sha256")) != 0)
        return rc;
    if (!is_sha_hex(sha))
        return fail(reg, VMCTLD_REG_EINVAL,
                    "sha256 '%s' is not 64 lowercase hex digits", sha);
    return 0;
}

int
vmctld_reg_package_put(vmctld_reg_t *reg, const vmctld_reg_package_t *p)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || p == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_sha(reg, p->sha256)) ||
        (rc = check_str(reg, p->vm, sizeof(p->vm), true, "package vm")) ||
        (rc = check_str(reg, p->version, sizeof(p->version), true,
                        "package version")) ||
        (rc = check_str(reg, p->key_id, sizeof(p->key_id), false,
                        "package key_id")) ||
        (rc = check_str(reg, p->path, sizeof(p->path), true, "package path")))
        return rc;
    if ((rc = prepare(reg,
                      "INSERT INTO packages (sha256, vm, version, size,"
                      " key_id, created_ms, path)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, p->sha256);
    bind_str(st, 2, p->vm);
    bind_str(st, 3, p->version);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)p->size);
    bind_str(st, 5, p->key_id);
    sqlite3_bind_int64(st, 6, p->created_ms);
    bind_str(st, 7, p->path);
    return step_done(reg, st, "store package");
}

static int
package_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_package_t *p = out;

    (void)reg;
    (void)ctx;
    memset(p, 0, sizeof(*p));
    col_str(st, 0, p->sha256, sizeof(p->sha256));
    col_str(st, 1, p->vm, sizeof(p->vm));
    col_str(st, 2, p->version, sizeof(p->version));
    p->size = (uint64_t)sqlite3_column_int64(st, 3);
    col_str(st, 4, p->key_id, sizeof(p->key_id));
    p->created_ms = sqlite3_column_int64(st, 5);
    col_str(st, 6, p->path, sizeof(p->path));
    return 0;
}

static int
snapshot_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_snapshot_t *s = out;

    (void)reg;
    (void)ctx;
    memset(s, 0, sizeof(*s));
    col_str(st, 0, s->sha256, sizeof(s->sha256));
    col_str(st, 1, s->device, sizeof(s->device));
    col_str(st, 2, s->vm, sizeof(s->vm));
    s->size = (uint64_t)sqlite3_column_int64(st, 3);
    s->created_ms = sqlite3_column_int64(st, 4);
    col_str(st, 5, s->path, sizeof(s->path));
    return 0;
}

#define PACKAGE_COLS "sha256, vm, version, size, key_id, created_ms, path"
#define SNAPSHOT_COLS "sha256, device, vm, size, created_ms, path"

/*
 * get_by_sha: get_one() of the row of `sql` whose sha256 is `sha` (?1);
 * `what` names it in messages.
 * Return: 0; EINVAL (a NULL argument or a bad sha256); get_one()'s codes.
 */
static int
get_by_sha(vmctld_reg_t *reg, const char *sql, const char *sha,
           const char *what, row_fn row, void *out)
{
    int rc;

    if (reg == NULL || out == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_sha(reg, sha)) != 0)
        return rc;
    return get_one(reg, sql, sha, what, what, row, out);
}

int
vmctld_reg_package_get(vmctld_reg_t *reg, const char *sha256,
                       vmctld_reg_package_t *out)
{
    return get_by_sha(reg,
                      "SELECT " PACKAGE_COLS " FROM packages"
                      " WHERE sha256 = ?1",
                      sha256, "package", package_row, out);
}

int
vmctld_reg_package_list(vmctld_reg_t *reg, const char *vm,
                        vmctld_reg_package_t **out, size_t *n)
{
    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    return list_by_key(reg,
                       "SELECT " PACKAGE_COLS " FROM packages"
                       " WHERE ?1 IS NULL OR vm = ?1"
                       " ORDER BY created_ms DESC, sha256",
                       vm, "list", sizeof(**out), package_row, NULL,
                       (void **)out, n);
}

/*
 * delete_by_sha: delete one row of `table` (a constant) by sha256, unless
 * `inuse_sql` (a count with the sha as ?1) finds a reference.
 * Return: 0; ENOTFOUND; EINUSE when something unfinished refers to it, or
 * a foreign key still does.
 */
static int
delete_by_sha(vmctld_reg_t *reg, const char *sql, const char *inuse_sql,
              const char *sha, const char *what)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = check_sha(reg, sha)) != 0)
        return rc;
    if ((rc = count_key(reg, inuse_sql, sha, "count references")) < 0)
        return rc;
    if (rc > 0)
        return fail(reg, VMCTLD_REG_EINUSE,
                    "%s %s is used by an unfinished rollout or command",
                    what, sha);
    if ((rc = prepare_key(reg, sql, sha, &st)) != 0)
        return rc;
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(reg->db) ==
            SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = fail(reg, VMCTLD_REG_EINUSE,
                      "%s %s is used by a rollout", what, sha);
        else
            rc = db_fail(reg, what);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (sqlite3_changes(reg->db) == 0)
        return fail(reg, VMCTLD_REG_ENOTFOUND, "no %s %s", what, sha);
    return 0;
}

int
vmctld_reg_package_delete(vmctld_reg_t *reg, const char *sha256)
{
    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    return delete_by_sha(reg, "DELETE FROM packages WHERE sha256 = ?1",
                         "SELECT (SELECT count(*) FROM rollouts"
                         " WHERE package_sha = ?1 AND state IN "
                         RO_UNFINISHED ") + (SELECT count(*) FROM commands"
                         " WHERE package = ?1 AND state IN "
                         CMD_UNFINISHED ")",
                         sha256, "package");
}

int
vmctld_reg_snapshot_put(vmctld_reg_t *reg, const vmctld_reg_snapshot_t *s)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || s == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_sha(reg, s->sha256)) ||
        (rc = check_str(reg, s->device, sizeof(s->device), true,
                        "snapshot device")) ||
        (rc = check_str(reg, s->vm, sizeof(s->vm), true, "snapshot vm")) ||
        (rc = check_str(reg, s->path, sizeof(s->path), true,
                        "snapshot path")))
        return rc;
    if ((rc = prepare(reg,
                      "INSERT INTO snapshots (sha256, device, vm, size,"
                      " created_ms, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, s->sha256);
    bind_str(st, 2, s->device);
    bind_str(st, 3, s->vm);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)s->size);
    sqlite3_bind_int64(st, 5, s->created_ms);
    bind_str(st, 6, s->path);
    return step_done(reg, st, "store snapshot");
}

int
vmctld_reg_snapshot_get(vmctld_reg_t *reg, const char *sha256,
                        vmctld_reg_snapshot_t *out)
{
    return get_by_sha(reg,
                      "SELECT " SNAPSHOT_COLS " FROM snapshots"
                      " WHERE sha256 = ?1",
                      sha256, "snapshot", snapshot_row, out);
}

int
vmctld_reg_snapshot_list(vmctld_reg_t *reg, const char *device,
                         vmctld_reg_snapshot_t **out, size_t *n)
{
    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    return list_by_key(reg,
                       "SELECT " SNAPSHOT_COLS " FROM snapshots"
                       " WHERE ?1 IS NULL OR device = ?1"
                       " ORDER BY created_ms DESC, sha256",
                       device, "list", sizeof(**out), snapshot_row, NULL,
                       (void **)out, n);
}

int
vmctld_reg_snapshot_delete(vmctld_reg_t *reg, const char *sha256)
{
    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    return delete_by_sha(reg, "DELETE FROM snapshots WHERE sha256 = ?1",
                         "SELECT count(*) FROM commands WHERE snapshot = ?1"
                         " AND kind = 'restore' AND state IN "
                         CMD_UNFINISHED,
                         sha256, "snapshot");
}

void
vmctld_reg_packages_free(vmctld_reg_package_t *pkgs)
{
    free(pkgs);
}

void
vmctld_reg_snapshots_free(vmctld_reg_snapshot_t *snaps)
{
    free(snaps);
}

/* ---- commands --------------------------------------------------------- */

#define CMD_STATES (sizeof(cmd_state_names) / sizeof(cmd_state_names[0]))

static bool
cmd_state_ok(vmctld_reg_cmd_state_t s)
{
    return (unsigned)s < CMD_STATES;
}

static vmctld_reg_cmd_state_t
cmd_state_parse(const char *s)
{
    unsigned i;

    for (i = 0; s != NULL && i < CMD_STATES; i++)
        if (strcmp(s, cmd_state_names[i]) == 0)
            return (vmctld_reg_cmd_state_t)i;
    return VMCTLD_REG_CMD_EXPIRED; /* CHECK constraint makes this moot */
}

/* The string fields of schema 3, which may be empty. */
static int
check_cmd3(vmctld_reg_t *reg, const vmctld_reg_command_t *c)
{
    int rc;

    if ((rc = check_str(reg, c->version, sizeof(c->version), false,
                        "command version")) ||
        (rc = check_str(reg, c->package, sizeof(c->package), false,
                        "command package")) ||
        (rc = check_str(reg, c->snapshot, sizeof(c->snapshot), false,
                        "command snapshot")) ||
        (rc = check_str(reg, c->rollout, sizeof(c->rollout), false,
                        "command rollout")))
        return rc;
    if (c->percent > 100)
        return fail(reg, VMCTLD_REG_EINVAL, "command %s: percent %u", c->id,
                    c->percent);
    return 0;
}

/*
 * check_cmd_tail: what vmctld_reg_command_put() and _save() both check
 * after the id (and put's device, kind and vm): the message, the fields
 * of schema 3 and the state.
 */
static int
check_cmd_tail(vmctld_reg_t *reg, const vmctld_reg_command_t *c)
{
    int rc;

    if ((rc = check_str(reg, c->message, sizeof(c->message), false,
                        "command message")) ||
        (rc = check_cmd3(reg, c)))
        return rc;
    if (!cmd_state_ok(c->state))
        return fail(reg, VMCTLD_REG_EINVAL, "command %s: bad state %d",
                    c->id, (int)c->state);
    return 0;
}

int
vmctld_reg_command_put(vmctld_reg_t *reg, const vmctld_reg_command_t *c)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || c == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, c->id, sizeof(c->id), true, "command id")) ||
        (rc = check_str(reg, c->device, sizeof(c->device), true,
                        "command device")) ||
        (rc = check_str(reg, c->kind, sizeof(c->kind), true,
                        "command kind")) ||
        (rc = check_str(reg, c->vm, sizeof(c->vm), false, "command vm")) ||
        (rc = check_cmd_tail(reg, c)))
        return rc;
    if (c->body_len > 0 && c->body == NULL)
        return fail(reg, VMCTLD_REG_EINVAL, "command %s: NULL body", c->id);
    if (c->body_len > (size_t)INT32_MAX)
        return fail(reg, VMCTLD_REG_EINVAL, "command %s: body too large",
                    c->id);
    if ((rc = prepare(reg,
                      "INSERT INTO commands (id, device, kind, vm, body,"
                      " state, code, message, created_ms, expires_ms,"
                      " updated_ms, version, package, snapshot, rollout,"
                      " percent, timeout_s, deadline_ms) VALUES (?1, ?2,"
                      " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                      " ?15, ?16, ?17, ?18)",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, c->id);
    bind_str(st, 2, c->device);
    bind_str(st, 3, c->kind);
    bind_str(st, 4, c->vm);
    if (c->body_len > 0)
        sqlite3_bind_blob(st, 5, c->body, (int)c->body_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    bind_str(st, 6, cmd_state_names[c->state]);
    sqlite3_bind_int(st, 7, c->code);
    bind_str(st, 8, c->message);
    sqlite3_bind_int64(st, 9, c->created_ms);
    sqlite3_bind_int64(st, 10, c->expires_ms);
    sqlite3_bind_int64(st, 11, c->updated_ms);
    bind_str(st, 12, c->version);
    bind_str(st, 13, c->package);
    bind_str(st, 14, c->snapshot);
    bind_str(st, 15, c->rollout);
    sqlite3_bind_int64(st, 16, c->percent);
    sqlite3_bind_int64(st, 17, c->timeout_s);
    sqlite3_bind_int64(st, 18, c->deadline_ms);
    return step_done(reg, st, "queue command");
}

#define COMMAND_COLS                                                    \
    "id, device, kind, vm, body, state, code, message, created_ms,"     \
    " expires_ms, updated_ms, version, package, snapshot, rollout,"     \
    " percent, timeout_s, deadline_ms"

/*
 * command_row: decode one row into `c`, copying the body.
 * Return: 0, or VMCTLD_REG_ENOMEM with `c` holding no body.
 */
static int
command_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_command_t *c = out;
    const void *body;
    size_t len;

    (void)ctx;
    memset(c, 0, sizeof(*c));
    col_str(st, 0, c->id, sizeof(c->id));
    col_str(st, 1, c->device, sizeof(c->device));
    col_str(st, 2, c->kind, sizeof(c->kind));
    col_str(st, 3, c->vm, sizeof(c->vm));
    body = sqlite3_column_blob(st, 4);
    len = (size_t)sqlite3_column_bytes(st, 4);
    c->state = cmd_state_parse((const char *)sqlite3_column_text(st, 5));
    c->code = sqlite3_column_int(st, 6);
    col_str(st, 7, c->message, sizeof(c->message));
    c->created_ms = sqlite3_column_int64(st, 8);
    c->expires_ms = sqlite3_column_int64(st, 9);
    c->updated_ms = sqlite3_column_int64(st, 10);
    col_str(st, 11, c->version, sizeof(c->version));
    col_str(st, 12, c->package, sizeof(c->package));
    col_str(st, 13, c->snapshot, sizeof(c->snapshot));
    col_str(st, 14, c->rollout, sizeof(c->rollout));
    c->percent = (uint32_t)sqlite3_column_int64(st, 15);
    c->timeout_s = (uint32_t)sqlite3_column_int64(st, 16);
    c->deadline_ms = sqlite3_column_int64(st, 17);
    if (body != NULL && len > 0) {
        if ((c->body = malloc(len)) == NULL)
            return fail(reg, VMCTLD_REG_ENOMEM,
                        "out of memory for a %zu-byte command body", len);
        memcpy(c->body, body, len);
        c->body_len = len;
    }
    return 0;
}

int
vmctld_reg_command_get(vmctld_reg_t *reg, const char *id,
                       vmctld_reg_command_t *out)
{
    int rc;

    if (reg == NULL || out == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, id, VMCTLD_REG_ID_MAX, true, "command id")) != 0)
        return rc;
    return get_one(reg, "SELECT " COMMAND_COLS " FROM commands WHERE id = ?1",
                   id, "command", "read command", command_row, out);
}

/*
 * command_changed: after an UPDATE of command `id` restricted to the
 * unfinished states.
 * Return: 0 if it changed a row; else ENOTFOUND (no such command) or
 * ESTATE (it is final).
 */
static int
command_changed(vmctld_reg_t *reg, const char *id)
{
    int exists;

    if (sqlite3_changes(reg->db) > 0)
        return 0;
    if ((exists = count_key(reg, "SELECT count(*) FROM commands WHERE id = ?1",
                            id, "read command")) < 0)
        return exists;
    if (exists == 0)
        return fail(reg, VMCTLD_REG_ENOTFOUND, "no command %s", id);
    return fail(reg, VMCTLD_REG_ESTATE, "command %s is already final", id);
}

int
vmctld_reg_command_update(vmctld_reg_t *reg, const char *id,
                          vmctld_reg_cmd_state_t state, int32_t code,
                          const char *message, int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, id, VMCTLD_REG_ID_MAX, true, "command id")) != 0)
        return rc;
    if (message != NULL &&
        (rc = check_str(reg, message, VMCTLD_REG_MSG_MAX, false,
                        "command message")) != 0)
        return rc;
    if (!cmd_state_ok(state))
        return fail(reg, VMCTLD_REG_EINVAL, "command %s: bad state %d", id,
                    (int)state);
    if ((rc = prepare(reg,
                      "UPDATE commands SET state = ?2, code = ?3,"
                      " message = coalesce(?4, message), updated_ms = ?5"
                      " WHERE id = ?1 AND state IN " CMD_UNFINISHED,
                      &st)) != 0)
        return rc;
    bind_str(st, 1, id);
    bind_str(st, 2, cmd_state_names[state]);
    sqlite3_bind_int(st, 3, code);
    bind_str(st, 4, message);
    sqlite3_bind_int64(st, 5, now_ms);
    if ((rc = step_done(reg, st, "update command")) != 0)
        return rc;
    return command_changed(reg, id);
}

int
vmctld_reg_command_save(vmctld_reg_t *reg, const vmctld_reg_command_t *c)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || c == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, c->id, sizeof(c->id), true, "command id")) ||
        (rc = check_cmd_tail(reg, c)))
        return rc;
    if ((rc = prepare(reg,
                      "UPDATE commands SET state = ?2, code = ?3,"
                      " message = ?4, updated_ms = ?5, version = ?6,"
                      " snapshot = ?7, percent = ?8, deadline_ms = ?9"
                      " WHERE id = ?1 AND state IN " CMD_UNFINISHED,
                      &st)) != 0)
        return rc;
    bind_str(st, 1, c->id);
    bind_str(st, 2, cmd_state_names[c->state]);
    sqlite3_bind_int(st, 3, c->code);
    bind_str(st, 4, c->message);
    sqlite3_bind_int64(st, 5, c->updated_ms);
    bind_str(st, 6, c->version);
    bind_str(st, 7, c->snapshot);
    sqlite3_bind_int64(st, 8, c->percent);
    sqlite3_bind_int64(st, 9, c->deadline_ms);
    if ((rc = step_done(reg, st, "save command")) != 0)
        return rc;
    return command_changed(reg, c->id);
}

void
vmctld_reg_command_clear(vmctld_reg_command_t *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->body);
    cmd->body = NULL;
    cmd->body_len = 0;
}

static void
command_clear_v(void *c)
{
    vmctld_reg_command_clear(c);
}

void
vmctld_reg_commands_free(vmctld_reg_command_t *cmds, size_t n)
{
    size_t i;

    if (cmds == NULL)
        return;
    for (i = 0; i < n; i++)
        vmctld_reg_command_clear(&cmds[i]);
    free(cmds);
}

int
vmctld_reg_command_list_pending(vmctld_reg_t *reg, const char *device,
                                vmctld_reg_command_t **out, size_t *n)
{
    int rc;

    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, device, VMCTLD_REG_ID_MAX, true,
                        "device id")) != 0)
        return rc;
    return list_by_key(reg,
                       "SELECT " COMMAND_COLS " FROM commands"
                       " WHERE device = ?1 AND state IN " CMD_UNFINISHED
                       " ORDER BY created_ms, id",
                       device, "list commands", sizeof(**out), command_row,
                       command_clear_v, (void **)out, n);
}

int
vmctld_reg_command_list(vmctld_reg_t *reg, const char *device, size_t limit,
                        vmctld_reg_command_t **out, size_t *n)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    if (device != NULL &&
        (rc = check_str(reg, device, VMCTLD_REG_ID_MAX, true,
                        "device id")) != 0)
        return rc;
    /* Two statements rather than "?1 IS NULL OR": each can use its index
     * (commands_device or commands_created) for the ORDER BY and LIMIT. */
    if ((rc = prepare(reg,
                      device != NULL
                          ? "SELECT " COMMAND_COLS " FROM commands"
                            " WHERE device = ?1"
                            " ORDER BY created_ms DESC, id DESC LIMIT ?2"
                          : "SELECT " COMMAND_COLS " FROM commands"
                            " ORDER BY created_ms DESC, id DESC LIMIT ?2",
                      &st)) != 0)
        return rc;
    if (device != NULL)
        bind_str(st, 1, device);
    sqlite3_bind_int64(st, 2,
                       limit == 0 || (uint64_t)limit > (uint64_t)INT64_MAX
                           ? -1
                           : (sqlite3_int64)limit);
    return list_rows(reg, st, "list commands", sizeof(**out), command_row,
                     NULL, command_clear_v, (void **)out, n);
}

int
vmctld_reg_command_list_unfinished(vmctld_reg_t *reg,
                                   vmctld_reg_command_t **out, size_t *n)
{
    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    return list_by_key(reg,
                       "SELECT " COMMAND_COLS " FROM commands"
                       " WHERE state IN " CMD_UNFINISHED
                       " ORDER BY created_ms, id",
                       NULL, "list commands", sizeof(**out), command_row,
                       command_clear_v, (void **)out, n);
}

int
vmctld_reg_command_expire(vmctld_reg_t *reg, int64_t now_ms,
                          size_t *n_expired)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = prepare(reg,
                      "UPDATE commands SET state = 'expired',"
                      " message = 'expired before the device answered',"
                      " updated_ms = ?1"
                      " WHERE state IN ('queued', 'sent')"
                      " AND expires_ms <= ?1",
                      &st)) != 0)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    if ((rc = step_done(reg, st, "expire commands")) != 0)
        return rc;
    if (n_expired != NULL)
        *n_expired = (size_t)sqlite3_changes(reg->db);
    return 0;
}

/* ---- rollouts --------------------------------------------------------- */

/*
 * rollout_write: the body of vmctld_reg_rollout_put(), also used inside
 * vmctld_reg_rollout_create()'s transaction.
 */
static int
rollout_write(vmctld_reg_t *reg, const vmctld_reg_rollout_t *ro)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = check_str(reg, ro->id, sizeof(ro->id), true, "rollout id")) ||
        (rc = check_str(reg, ro->vm, sizeof(ro->vm), true, "rollout vm")) ||
        (rc = check_sha(reg, ro->package_sha)) ||
        (rc = check_str(reg, ro->state, sizeof(ro->state), true,
                        "rollout state")) ||
        (rc = check_str(reg, ro->version, sizeof(ro->version), false,
                        "rollout version")))
        return rc;
    if (ro->target == NULL)
        return fail(reg, VMCTLD_REG_EINVAL, "rollout %s: no target", ro->id);
    if (ro->blob_len > 0 && ro->blob == NULL)
        return fail(reg, VMCTLD_REG_EINVAL, "rollout %s: NULL blob", ro->id);
    if (ro->blob_len > (size_t)INT32_MAX)
        return fail(reg, VMCTLD_REG_EINVAL, "rollout %s: blob too large",
                    ro->id);
    /* A new rollout needs its package; an existing one keeps its row even
     * if the package went (allowed once the rollout has ended). */
    if ((rc = prepare(reg,
                      "SELECT EXISTS (SELECT 1 FROM rollouts WHERE id = ?1)"
                      " OR EXISTS (SELECT 1 FROM packages"
                      " WHERE sha256 = ?2)",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, ro->id);
    bind_str(st, 2, ro->package_sha);
    if ((rc = step_row(reg, st, "read rollout")) != 0)
        return rc;
    if (sqlite3_column_int(st, 0) == 0)
        rc = fail(reg, VMCTLD_REG_ENOTFOUND, "rollout %s: no package %s",
                  ro->id, ro->package_sha);
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    /* An upsert, not INSERT OR REPLACE: replacing would delete the row
     * and, through ON DELETE CASCADE, its rollout_devices. */
    if ((rc = prepare(reg,
                      "INSERT INTO rollouts (id, vm, package_sha, target,"
                      " params, state, created_ms, updated_ms, version,"
                      " health_window_ms, device_timeout_s, blob)"
                      " VALUES (?1, ?2, ?3, ?4, coalesce(?5, '{}'), ?6, ?7,"
                      " ?8, ?9, ?10, ?11, ?12) ON CONFLICT(id) DO UPDATE"
                      " SET vm = ?2, package_sha = ?3, target = ?4,"
                      " params = coalesce(?5, '{}'), state = ?6,"
                      " updated_ms = ?8, version = ?9,"
                      " health_window_ms = ?10, device_timeout_s = ?11,"
                      " blob = ?12",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, ro->id);
    bind_str(st, 2, ro->vm);
    bind_str(st, 3, ro->package_sha);
    bind_str(st, 4, ro->target);
    bind_str(st, 5, ro->params);
    bind_str(st, 6, ro->state);
    sqlite3_bind_int64(st, 7, ro->created_ms);
    sqlite3_bind_int64(st, 8, ro->updated_ms);
    bind_str(st, 9, ro->version);
    sqlite3_bind_int64(st, 10, ro->health_window_ms);
    sqlite3_bind_int64(st, 11, ro->device_timeout_s);
    if (ro->blob_len > 0)
        sqlite3_bind_blob(st, 12, ro->blob, (int)ro->blob_len,
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 12);
    return step_done(reg, st, "store rollout");
}

int
vmctld_reg_rollout_put(vmctld_reg_t *reg, const vmctld_reg_rollout_t *ro)
{
    if (reg == NULL || ro == NULL)
        return VMCTLD_REG_EINVAL;
    return rollout_write(reg, ro);
}

#define ROLLOUT_COLS                                                    \
    "id, vm, package_sha, target, params, state, created_ms, updated_ms," \
    " version, health_window_ms, device_timeout_s, blob"

void
vmctld_reg_rollout_clear(vmctld_reg_rollout_t *ro)
{
    if (ro == NULL)
        return;
    free(ro->target);
    free(ro->params);
    free(ro->blob);
    ro->target = NULL;
    ro->params = NULL;
    ro->blob = NULL;
    ro->blob_len = 0;
}

static void
rollout_clear_v(void *ro)
{
    vmctld_reg_rollout_clear(ro);
}

void
vmctld_reg_rollouts_free(vmctld_reg_rollout_t *ros, size_t n)
{
    size_t i;

    if (ros == NULL)
        return;
    for (i = 0; i < n; i++)
        vmctld_reg_rollout_clear(&ros[i]);
    free(ros);
}

/*
 * rollout_row: decode one row into `ro`, copying target and params.
 * Return: 0, or VMCTLD_REG_ENOMEM with `ro` owning nothing.
 */
static int
rollout_row(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *out)
{
    vmctld_reg_rollout_t *ro = out;
    const void *blob;
    size_t len;

    (void)ctx;
    memset(ro, 0, sizeof(*ro));
    col_str(st, 0, ro->id, sizeof(ro->id));
    col_str(st, 1, ro->vm, sizeof(ro->vm));
    col_str(st, 2, ro->package_sha, sizeof(ro->package_sha));
    col_str(st, 5, ro->state, sizeof(ro->state));
    ro->created_ms = sqlite3_column_int64(st, 6);
    ro->updated_ms = sqlite3_column_int64(st, 7);
    col_str(st, 8, ro->version, sizeof(ro->version));
    ro->health_window_ms = (uint32_t)sqlite3_column_int64(st, 9);
    ro->device_timeout_s = (uint32_t)sqlite3_column_int64(st, 10);
    if ((ro->target = col_dup(st, 3)) == NULL ||
        (ro->params = col_dup(st, 4)) == NULL)
        goto nomem;
    len = (size_t)sqlite3_column_bytes(st, 11);
    blob = sqlite3_column_blob(st, 11);
    if (blob != NULL && len > 0) {
        if ((ro->blob = malloc(len)) == NULL)
            goto nomem;
        memcpy(ro->blob, blob, len);
        ro->blob_len = len;
    }
    return 0;
nomem:
    vmctld_reg_rollout_clear(ro);
    return fail(reg, VMCTLD_REG_ENOMEM, "out of memory for rollout %s",
                ro->id);
}

int
vmctld_reg_rollout_get(vmctld_reg_t *reg, const char *id,
                       vmctld_reg_rollout_t *out)
{
    int rc;

    if (reg == NULL || out == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, id, VMCTLD_REG_ID_MAX, true, "rollout id")) != 0)
        return rc;
    return get_one(reg, "SELECT " ROLLOUT_COLS " FROM rollouts WHERE id = ?1",
                   id, "rollout", "read rollout", rollout_row, out);
}

int
vmctld_reg_rollout_list(vmctld_reg_t *reg, vmctld_reg_rollout_t **out,
                        size_t *n)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = prepare(reg,
                      "SELECT " ROLLOUT_COLS " FROM rollouts"
                      " ORDER BY created_ms, id",
                      &st)) != 0)
        return rc;
    return list_rows(reg, st, "list rollouts", sizeof(**out), rollout_row,
                     NULL, rollout_clear_v, (void **)out, n);
}

/*
 * rollout_device_check: the fields of one rollout device row.
 */
static int
rollout_device_check(vmctld_reg_t *reg, const vmctld_reg_rollout_device_t *rd)
{
    int rc;

    if ((rc = check_str(reg, rd->rollout, sizeof(rd->rollout), true,
                        "rollout id")) ||
        (rc = check_str(reg, rd->device, sizeof(rd->device), true,
                        "device id")) ||
        (rc = check_str(reg, rd->state, sizeof(rd->state), true,
                        "rollout device state")) ||
        (rc = check_str(reg, rd->message, sizeof(rd->message), false,
                        "rollout device message")) ||
        (rc = check_str(reg, rd->command, sizeof(rd->command), false,
                        "rollout device command")))
        return rc;
    return 0;
}

#define ROLLOUT_DEVICE_UPSERT                                             \
    "INSERT INTO rollout_devices (rollout, device, batch, state, code,"   \
    " message, updated_ms, command)"                                      \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"                            \
    " ON CONFLICT(rollout, device) DO UPDATE SET"                         \
    " batch = ?3, state = ?4, code = ?5, message = ?6, updated_ms = ?7,"  \
    " command = ?8"

/* Bind one row to a prepared ROLLOUT_DEVICE_UPSERT (reset first). */
static void
rollout_device_bind(sqlite3_stmt *st, const vmctld_reg_rollout_device_t *rd)
{
    sqlite3_reset(st);
    bind_str(st, 1, rd->rollout);
    bind_str(st, 2, rd->device);
    sqlite3_bind_int(st, 3, rd->batch);
    bind_str(st, 4, rd->state);
    sqlite3_bind_int(st, 5, rd->code);
    bind_str(st, 6, rd->message);
    sqlite3_bind_int64(st, 7, rd->updated_ms);
    bind_str(st, 8, rd->command);
}

int
vmctld_reg_rollout_create(vmctld_reg_t *reg, const vmctld_reg_rollout_t *ro,
                          const vmctld_reg_rollout_device_t *rds, size_t n)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc;

    if (reg == NULL || ro == NULL || (n > 0 && rds == NULL))
        return VMCTLD_REG_EINVAL;
    for (i = 0; i < n; i++) {
        if ((rc = rollout_device_check(reg, &rds[i])) != 0)
            return rc;
        if (strcmp(rds[i].rollout, ro->id) != 0)
            return fail(reg, VMCTLD_REG_EINVAL,
                        "rollout %s: device row %zu is for rollout %s",
                        ro->id, i, rds[i].rollout);
    }
    if ((rc = begin(reg)) != 0)
        return rc;
    if ((rc = count_key(reg, "SELECT count(*) FROM rollouts WHERE id = ?1",
                        ro->id, "read rollout")) < 0)
        goto fail;
    if (rc != 0) {
        rc = fail(reg, VMCTLD_REG_EEXIST, "rollout %s exists", ro->id);
        goto fail;
    }
    if ((rc = rollout_write(reg, ro)) != 0 ||

        (rc = prepare(reg, ROLLOUT_DEVICE_UPSERT, &st)) != 0)
        goto fail;
    for (i = 0; i < n; i++) {
        rollout_device_bind(st, &rds[i]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_fail(reg, "store rollout device");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = commit(reg)) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_finalize(st);
    rollback(reg);
    return rc;
}

int
vmctld_reg_rollout_device_put(vmctld_reg_t *reg,
                              const vmctld_reg_rollout_device_t *rd)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || rd == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = rollout_device_check(reg, rd)) != 0)
        return rc;
    if ((rc = prepare(reg, ROLLOUT_DEVICE_UPSERT, &st)) != 0)
        return rc;
    rollout_device_bind(st, rd);
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(reg->db) ==
            SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = fail(reg, VMCTLD_REG_ENOTFOUND, "no rollout %s",
                      rd->rollout);
        else
            rc = db_fail(reg, "store rollout device");
    }
    sqlite3_finalize(st);
    return rc;
}

int
vmctld_reg_rollout_device_update(vmctld_reg_t *reg, const char *rollout,
                                 const char *device, const char *state,
                                 int32_t code, const char *message,
                                 int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, rollout, VMCTLD_REG_ID_MAX, true,
                        "rollout id")) ||
        (rc = check_str(reg, device, VMCTLD_REG_ID_MAX, true, "device id")) ||
        (rc = check_str(reg, state, VMCTLD_REG_STATE_MAX, true,
                        "rollout device state")) ||
        (message != NULL &&
         (rc = check_str(reg, message, VMCTLD_REG_MSG_MAX, false,
                         "rollout device message"))))
        return rc;
    if ((rc = prepare(reg,
                      "UPDATE rollout_devices SET state = ?3, code = ?4,"
                      " message = coalesce(?5, message), updated_ms = ?6"
                      " WHERE rollout = ?1 AND device = ?2",
                      &st)) != 0)
        return rc;
    bind_str(st, 1, rollout);
    bind_str(st, 2, device);
    bind_str(st, 3, state);
    sqlite3_bind_int(st, 4, code);
    bind_str(st, 5, message);
    sqlite3_bind_int64(st, 6, now_ms);
    if ((rc = step_done(reg, st, "update rollout device")) != 0)
        return rc;
    if (sqlite3_changes(reg->db) == 0)
        return fail(reg, VMCTLD_REG_ENOTFOUND, "rollout %s has no device %s",
                    rollout, device);
    return 0;
}

static int
rollout_device_row_v(vmctld_reg_t *reg, sqlite3_stmt *st, void *ctx, void *p)
{
    vmctld_reg_rollout_device_t *rd = p;

    (void)reg;
    (void)ctx;
    memset(rd, 0, sizeof(*rd));
    col_str(st, 0, rd->rollout, sizeof(rd->rollout));
    col_str(st, 1, rd->device, sizeof(rd->device));
    rd->batch = sqlite3_column_int(st, 2);
    col_str(st, 3, rd->state, sizeof(rd->state));
    rd->code = sqlite3_column_int(st, 4);
    col_str(st, 5, rd->message, sizeof(rd->message));
    rd->updated_ms = sqlite3_column_int64(st, 6);
    col_str(st, 7, rd->command, sizeof(rd->command));
    return 0;
}

int
vmctld_reg_rollout_device_list(vmctld_reg_t *reg, const char *rollout,
                               vmctld_reg_rollout_device_t **out, size_t *n)
{
    int rc;

    if (reg == NULL || out == NULL || n == NULL)
        return VMCTLD_REG_EINVAL;
    if ((rc = check_str(reg, rollout, VMCTLD_REG_ID_MAX, true,
                        "rollout id")) != 0)
        return rc;
    return list_by_key(reg,
                       "SELECT rollout, device, batch, state, code, message,"
                       " updated_ms, command FROM rollout_devices"
                       " WHERE rollout = ?1"
                       " ORDER BY batch, device",
                       rollout, "list", sizeof(**out), rollout_device_row_v,
                       NULL, (void **)out, n);
}

void
vmctld_reg_rollout_devices_free(vmctld_reg_rollout_device_t *rds)
{
    free(rds);
}

/* ---- test seam -------------------------------------------------------- */

int
vmctld_reg__exec_raw(const char *path, const char *sql, char *err,
                     size_t errlen)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 msg != NULL ? msg : sqlite3_errmsg(db));
        rc = VMCTLD_REG_EDB;
    }
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}
