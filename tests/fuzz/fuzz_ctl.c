/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_ctl: the control protocol's decoder as the daemon sees it: a byte
 * stream split into frames (length prefix checked against the limit),
 * each body decoded as a request and, for the client side, as a response.
 * Whatever the input, decoding must fail cleanly or yield a message that
 * re-encodes.
 */

#include <stddef.h>
#include <stdint.h>

#include "ipc/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *body;
    size_t blen, used;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *buf;
    size_t len;

    while (ipc_ctl_frame_parse(data, size, IPC_CTL_FRAME_SMALL, &body, &blen,
                               &used) == 0) {
        if (ipc_ctl_req_decode(body, blen, &q) == 0) {
            if (ipc_ctl_req_encode(&q, &buf, &len) == 0)
                ipc_ctl_buf_free(buf);
            ipc_ctl_req_free(&q);
        }
        if (ipc_ctl_resp_decode(body, blen, &r) == 0) {
            if (ipc_ctl_resp_encode(&r, &buf, &len) == 0)
                ipc_ctl_buf_free(buf);
            ipc_ctl_resp_free(&r);
        }
        data += used;
        size -= used;
    }
    return 0;
}
