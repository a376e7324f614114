/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_CTL_H
#define VMRT_CTL_H

/*
 * The runtime's control server: the local control API (device/ipc ctl.h,
 * proto/vmrt_ctl.proto) served on a Unix socket by one thread with a poll
 * loop.  Only peers with the daemon's uid, or root, are served; every frame
 * is size-checked before it is read.  Requests go to the public runtime API
 * (vmrt/runtime.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmrt/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmrt_ctl vmrt_ctl_t;

/**
 * Listen on `path` (mode 0600; a stale socket is replaced) and start the
 * server thread.  Subscribes to the runtime's events for the event stream.
 * @param rt   borrowed; must outlive vmrt_ctl_stop().
 * @param path the socket; NULL or "" = rt's cfg.socket, else
 *             cfg.state_dir/vmrt.sock.  Copied.
 * @return 0; PL_EADDRINUSE (a live daemon listens there); other PL_E*
 *         codes; err says what.
 */
int vmrt_ctl_start(vmrt_rt_t *rt, const char *path, vmrt_ctl_t **out,
                   char *err, size_t errlen);

/**
 * Stop serving: join the thread, close every connection, remove the socket
 * file.  The object stays allocated because the runtime may still call its
 * event callback: free it with vmrt_ctl_free() after vmrt_rt_destroy().
 * NULL-safe; called from any thread but the server's.
 */
void vmrt_ctl_stop(vmrt_ctl_t *c);

/** Free a stopped server (after vmrt_rt_destroy).  NULL-safe. */
void vmrt_ctl_free(vmrt_ctl_t *c);

/** @return the socket path the server listens on. */
const char *vmrt_ctl_path(const vmrt_ctl_t *c);

/**
 * Test seam: serve peers of `uid` (and root, if allow_root) instead of the
 * daemon's own uid and root.  Takes effect for the next connection.
 */
void vmrt_ctl_set_allowed_uid(vmrt_ctl_t *c, uint32_t uid, bool allow_root);

#ifdef __cplusplus
}
#endif
#endif /* VMRT_CTL_H */
