/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* Placeholder: being written (issue 6). */
typedef int vmctld_http_placeholder_t;
