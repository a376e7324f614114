/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* The dedup log (ota_dedup.h). */

#include <stdlib.h>
#include <string.h>

#include "ota_dedup.h"
#include "ota_util.h"
#include "vmf/fleet.h"

#define REC_HDR 8
#define REC_BODY_MAX (64u * 1024)

typedef struct {
    char id[VMF_ID_MAX];
    uint8_t *res;
    size_t len;
} entry_t;

struct ota_dedup {
    const pl_root_t *root;
    char name[64];
    pl_file_t f;
    uint64_t end;         /* where the next record goes */
    uint32_t nrec;        /* records in the file */
    entry_t e[OTA_DEDUP_KEEP];
    size_t first, count;  /* ring of remembered entries, oldest first */
};

static entry_t *
slot(ota_dedup_t *d, size_t i)
{
    return &d->e[(d->first + i) % OTA_DEDUP_KEEP];
}

/* Remember an entry in memory, dropping the oldest when full; takes
 * ownership of `res`.  A later entry for the same id wins. */
static void
remember(ota_dedup_t *d, const char *id, uint8_t *res, size_t len)
{
    entry_t *e;

    if (d->count == OTA_DEDUP_KEEP) {
        e = slot(d, 0);
        free(e->res);
        d->first = (d->first + 1) % OTA_DEDUP_KEEP;
        d->count--;
    }
    e = slot(d, d->count++);
    ota__strlcpy(e->id, id, sizeof(e->id));
    e->res = res;
    e->len = len;
}

/* Encode one record into buf (REC_HDR + body bytes).  Return: its size. */
static size_t
encode(uint8_t *buf, const char *id, const uint8_t *res, size_t len)
{
    size_t idl = strlen(id), body = 1 + idl + len;

    ota__put_le32(buf, (uint32_t)body);
    buf[REC_HDR] = (uint8_t)idl;
    memcpy(buf + REC_HDR + 1, id, idl);
    if (len > 0)
        memcpy(buf + REC_HDR + 1 + idl, res, len);
    ota__put_le32(buf + 4, vmf_crc32(buf + REC_HDR, body));
    return REC_HDR + body;
}

/*
 * load: parse the whole log in `buf`, remembering every good record.
 * Return: the offset just after the last good record.
 */
static size_t
load(ota_dedup_t *d, const uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (len - off >= REC_HDR) {
        uint32_t body = ota__get_le32(buf + off);
        uint32_t crc = ota__get_le32(buf + off + 4);
        const uint8_t *b = buf + off + REC_HDR;
        char id[VMF_ID_MAX];
        uint8_t *res = NULL;
        size_t idl, rl;

        if (body < 2 || body > REC_BODY_MAX || body > len - off - REC_HDR ||
            vmf_crc32(b, body) != crc)
            break;
        idl = b[0];
        if (idl == 0 || idl >= sizeof(id) || idl + 1 > body)
            break;
        memcpy(id, b + 1, idl);
        id[idl] = '\0';
        rl = body - 1 - idl;
        if (rl > 0 && (res = malloc(rl)) == NULL)
            break;
        if (rl > 0)
            memcpy(res, b + 1 + idl, rl);
        remember(d, id, res, rl);
        d->nrec++;
        off += REC_HDR + body;
    }
    return off;
}

int
ota_dedup_open(const pl_root_t *root, const char *name, ota_dedup_t **out)
{
    ota_dedup_t *d;
    uint8_t *buf = NULL;
    size_t len = 0, good;
    int rc;

    if ((d = calloc(1, sizeof(*d))) == NULL)
        return PL_ENOMEM;
    d->root = root;
    d->f = (pl_file_t)PL_FILE_INIT;
    ota__strlcpy(d->name, name, sizeof(d->name));
    if ((rc = pl_fs_open(root, name, PL_O_READ | PL_O_WRITE | PL_O_CREATE,
                         &d->f)) != 0)
        goto fail;
    if ((rc = ota__file_read(&d->f, 0, &buf, &len)) != 0)
        goto fail;
    good = load(d, buf, len);
    free(buf);
    /* Cut a torn tail so that the next append follows a good record. */
    if (good < len && ((rc = pl_file_truncate(&d->f, good)) != 0 ||
                       (rc = pl_file_sync(&d->f)) != 0))
        goto fail;
    d->end = good;
    *out = d;
    return 0;
fail:
    ota_dedup_close(d);
    return rc;
}

int
ota_dedup_find(ota_dedup_t *d, const char *id, const uint8_t **res,
               size_t *len)
{
    size_t i;

    /* Newest first: a re-put id shadows its older entry. */
    for (i = d->count; i-- > 0;) {
        entry_t *e = slot(d, i);

        if (strcmp(e->id, id) == 0) {
            *res = e->res;
            *len = e->len;
            return 1;
        }
    }
    return 0;
}

size_t
ota_dedup_count(const ota_dedup_t *d)
{
    return d->count;
}

/*
 * compact: rewrite the log with only the remembered entries, into a new
 * file renamed over the old one.
 * Return: 0 or a PL_E* code (the old log then stays in use).
 */
static int
compact(ota_dedup_t *d)
{
    char tmp[80];
    uint8_t *buf;
    size_t i, cap = 0, off = 0;
    pl_file_t nf = PL_FILE_INIT;
    int rc;

    for (i = 0; i < d->count; i++)
        cap += REC_HDR + 1 + strlen(slot(d, i)->id) + slot(d, i)->len;
    if ((buf = malloc(cap ? cap : 1)) == NULL)
        return PL_ENOMEM;
    for (i = 0; i < d->count; i++)
        off += encode(buf + off, slot(d, i)->id, slot(d, i)->res,
                      slot(d, i)->len);
    ota__strlcpy(tmp, d->name, sizeof(tmp) - 4);
    strcat(tmp, ".tmp");
    rc = pl_fs_open(d->root, tmp,
                    PL_O_WRITE | PL_O_CREATE | PL_O_TRUNC, &nf);
    if (rc == 0)
        rc = ota__file_pwrite(&nf, buf, off, 0);
    if (rc == 0)
        rc = pl_file_sync(&nf);
    if (rc == 0)
        rc = pl_fs_rename(d->root, tmp, d->name);
    free(buf);
    if (rc != 0) {
        pl_file_close(&nf);
        pl_fs_unlink(d->root, tmp);
        return rc;
    }
    ota__dir_sync(d->root, d->name);
    pl_file_close(&d->f);
    d->f = nf;
    d->end = off;
    d->nrec = (uint32_t)d->count;
    return 0;
}

int
ota_dedup_put(ota_dedup_t *d, const char *id, const uint8_t *res,
              size_t len)
{
    uint8_t *copy = NULL, *rec;
    size_t idl = strlen(id), n;
    int rc;

    if (idl == 0 || idl >= VMF_ID_MAX || 1 + idl + len > REC_BODY_MAX)
        return PL_EINVAL;
    if (len > 0 && (copy = malloc(len)) == NULL)
        return PL_ENOMEM;
    if ((rec = malloc(REC_HDR + 1 + idl + len)) == NULL) {
        free(copy);
        return PL_ENOMEM;
    }
    if (len > 0)
        memcpy(copy, res, len);
    remember(d, id, copy, len);
    n = encode(rec, id, res, len);
    rc = ota__file_pwrite(&d->f, rec, n, d->end);
    if (rc == 0)
        rc = pl_file_sync(&d->f);
    free(rec);
    if (rc != 0) {
        /* A partial record is a torn tail: cut it, keep appending. */
        pl_file_truncate(&d->f, d->end);
        return rc;
    }
    d->end += n;
    d->nrec++;
    if (d->nrec >= 2 * OTA_DEDUP_KEEP)
        compact(d);
    return 0;
}

void
ota_dedup_close(ota_dedup_t *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->count; i++)
        free(slot(d, i)->res);
    pl_file_close(&d->f);
    free(d);
}
