/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef FAKE_RT_H
#define FAKE_RT_H

/* The fake runtime's state, for the control server test to inspect. */

#include <stdbool.h>
#include <stddef.h>

#include "vmrt/runtime.h"

#define FAKE_MAX_VMS 8

typedef struct {
    bool used;
    char name[VMRT_NAME_MAX];
    vmrt_manifest_t man;
    vmrt_vm_state_t state;
    uint32_t restarts;
    vmrt_swap_status_t swap;   /* a swap commits at once here */
} fake_vm_t;

extern fake_vm_t fake_vms[FAKE_MAX_VMS];
extern vmrt_event_fn_t fake_event_fn;
extern void *fake_event_arg;
extern char fake_uart_in[256];
extern size_t fake_uart_in_len;

#endif /* FAKE_RT_H */
