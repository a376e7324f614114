/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * flash0: a NOR flash of 64 blocks of 4 KiB, backed by the file
 * STATE_DIR/dev/flash0.img so that its contents survive vmrt restarts (in
 * memory only when the runtime has no state dir).  As on real NOR flash an
 * erased block reads 0xff and a write can only clear bits (new = old AND
 * data): erase a block (VOS_IOC_FLASH_ERASE) before rewriting it.  Reads
 * and writes start at the handle's offset (VOS_IOC_FLASH_SEEK, like
 * pread/pwrite) and advance it; they stop at the end of the flash.
 *
 * The whole image is kept in memory and every change is written through
 * to the file, so a read never touches the disk.
 */

#include <stdio.h>
#include <string.h>

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

#define FLASH_BLOCK 4096u
#define FLASH_BLOCKS 64u
#define FLASH_SIZE (FLASH_BLOCK * FLASH_BLOCKS)

typedef struct {
    uint8_t img[FLASH_SIZE];
    pl_file_t file;
    bool has_file;
} flash_t;

enum { SESS_OFF = 0 };

/* Write img[off, off + len) through to the backing file, if any. */
static int
flash_sync(flash_t *f, uint32_t off, uint32_t len)
{
    size_t n, done = 0;

    if (!f->has_file)
        return 0;
    while (done < len) {
        if (pl_file_pwrite(&f->file, f->img + off + done, len - done,
                           off + done, &n) != 0 ||
            n == 0)
            return VOS_EINVAL;
        done += n;
    }
    return 0;
}

/*
 * Open (or create) the backing file and load it.  Return 0, or a negative
 * PL_E* code if the state dir cannot hold it (the caller then keeps the
 * flash in memory).
 */
static int
flash_open_file(vmrt__dev_t *d, flash_t *f)
{
    pl_root_t root;
    char path[VMRT_NAME_MAX + 16];
    size_t n, got = 0;
    int rc;

    if ((rc = pl_dir_open_root(&root, d->rt->cfg.state_dir, 0)) != 0)
        return rc;
    rc = pl_fs_mkdir(&root, "dev");
    if (rc != 0 && rc != PL_EEXIST)
        goto fail;
    snprintf(path, sizeof(path), "dev/%s.img", d->name);
    rc =
        pl_fs_open(&root, path, PL_O_READ | PL_O_WRITE | PL_O_CREATE, &f->file);
    if (rc != 0)
        goto fail;
    while (got < FLASH_SIZE) {
        rc = pl_file_pread(&f->file, f->img + got, FLASH_SIZE - got, got, &n);
        if (rc != 0 || n == 0)
            break;
        got += n;
    }
    f->has_file = true;
    pl_dir_close_root(&root);
    /* A new or short file: the rest is erased flash; write it out once so
     * the file always holds the whole image. */
    if (got < FLASH_SIZE)
        return flash_sync(f, (uint32_t)got, FLASH_SIZE - (uint32_t)got);
    return 0;
fail:
    pl_dir_close_root(&root);
    return rc;
}

static int
flash_init(vmrt__dev_t *d)
{
    flash_t *f;

    if ((f = vmrt__calloc(1, sizeof(*f))) == NULL)
        return VOS_ENOMEM;
    memset(f->img, 0xff, sizeof(f->img));
    if (d->rt->cfg.state_dir[0] != '\0' && flash_open_file(d, f) != 0 &&
        f->has_file) {
        pl_file_close(&f->file);
        f->has_file = false;
    }
    d->drv = f;
    return 0;
}

static void
flash_fini(vmrt__dev_t *d)
{
    flash_t *f = d->drv;

    if (f == NULL)
        return;
    if (f->has_file) {
        pl_file_sync(&f->file);
        pl_file_close(&f->file);
    }
    vmrt__free(f);
    d->drv = NULL;
}

static int
flash_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    flash_t *f = d->drv;
    uint32_t off = sess[SESS_OFF];

    if (off >= FLASH_SIZE)
        return 0;
    if (len > FLASH_SIZE - off)
        len = FLASH_SIZE - off;
    memcpy(buf, f->img + off, len);
    sess[SESS_OFF] = off + len;
    return (int)len;
}

static int
flash_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    flash_t *f = d->drv;
    uint32_t off = sess[SESS_OFF], i;
    int rc;

    if (off >= FLASH_SIZE)
        return len == 0 ? 0 : VOS_ENOSPC;
    if (len > FLASH_SIZE - off)
        len = FLASH_SIZE - off;
    for (i = 0; i < len; i++)
        f->img[off + i] &= buf[i];
    if ((rc = flash_sync(f, off, len)) != 0)
        return rc;
    sess[SESS_OFF] = off + len;
    return (int)len;
}

static int
flash_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
            uint32_t arg_len)
{
    flash_t *f = d->drv;
    uint32_t v;

    switch (cmd) {
    case VOS_IOC_FLASH_INFO:
        if (arg_len < 8)
            return VOS_EINVAL;
        vmrt__dev_put32(arg, FLASH_BLOCK);
        vmrt__dev_put32(arg + 4, FLASH_BLOCKS);
        return 0;
    case VOS_IOC_FLASH_SEEK:
        if (arg_len < 4 || (v = vmrt__dev_get32(arg)) > FLASH_SIZE)
            return VOS_EINVAL;
        sess[SESS_OFF] = v;
        return 0;
    case VOS_IOC_FLASH_ERASE:
        if (arg_len < 4 || (v = vmrt__dev_get32(arg)) >= FLASH_BLOCKS)
            return VOS_EINVAL;
        memset(f->img + v * FLASH_BLOCK, 0xff, FLASH_BLOCK);
        return flash_sync(f, v * FLASH_BLOCK, FLASH_BLOCK);
    default:
        return VOS_EINVAL;
    }
}

const vmrt__dev_ops_t vmrt__drv_flash = {
    .kind = "flash",
    .init = flash_init,
    .fini = flash_fini,
    .read = flash_read,
    .write = flash_write,
    .ioctl = flash_ioctl,
};
