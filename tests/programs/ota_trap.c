/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ota_trap: an update image that traps right after start, so that the
 * OTA rollback test (tests/integration/36-ota-rollback.sh) sees vmrt roll
 * the VM back inside its health window.
 */

#include <string.h>

#include "vos.h"

int
main(void)
{
    static const char msg[] = "ota_trap: trapping now";

    vos_log(VOS_LOG_INFO, msg, (uint32_t)strlen(msg));
    __builtin_trap();
}
