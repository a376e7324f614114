/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_CLI_H
#define VMRT_CLI_H

/* Commands of the `vmrt` program that live outside main.c. */

/** vmrt daemon [--config FILE] [--state-dir DIR] [--workers N]
 *  [--socket PATH] [-n]: argv[0] is "daemon".  @return the exit status. */
int cli_daemon(int argc, char **argv);

/** vmrt ctl [--socket PATH] [--json] CMD ...: argv[0] is "ctl".
 *  @return 0 ok, 1 failed, 2 usage, 3 cannot reach the daemon. */
int cli_ctl(int argc, char **argv);

/** argv[0] of the vmrt program: the daemon looks for a bare ota.exec
 *  name ("vmrt-ota") in its directory first. */
extern const char *cli_argv0;

/** Default state directory (and so socket dir) when none is given. */
#define CLI_DEFAULT_STATE_DIR "/var/lib/vmrt"

#endif /* VMRT_CLI_H */
