/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_POSIX_TYPES_H
#define PL_POSIX_TYPES_H

/*
 * Concrete types of the POSIX port.  They are complete so that callers can
 * embed a pl_mutex_t or a pl_thread_t by value (FreeRTOS's StaticTask_t
 * idea); callers must still treat the members as private.  Only this header
 * and the port's .c files may depend on what is inside.
 */

#include <pthread.h>
#include <stdint.h>

#define PL_PORT_NAME "posix"

/* ---- threads and sync ---------------------------------------------- */

/*
 * The thread's entry and name are kept here rather than in a heap block so
 * that creating a thread cannot fail for lack of memory; this is why a
 * pl_thread_t must not move until pl_thread_join() returns.
 */
typedef struct pl_thread {
    pthread_t tid;
    void (*entry)(void *);
    void *arg;
    int prio;
    char name[16];
} pl_thread_t;

typedef struct pl_mutex {
    pthread_mutex_t m;
} pl_mutex_t;

typedef struct pl_cond {
    pthread_cond_t c;
} pl_cond_t;

typedef struct pl_once {
    pthread_once_t o;
} pl_once_t;

#define PL_ONCE_INIT                                                           \
    {                                                                          \
        PTHREAD_ONCE_INIT                                                      \
    }

/* ---- files ---------------------------------------------------------- */

typedef struct pl_root {
    int fd;         /* O_DIRECTORY descriptor of the root */
    unsigned flags; /* PL_ROOT_* */
} pl_root_t;

typedef struct pl_file {
    int fd;
} pl_file_t;

#define PL_FILE_INIT                                                           \
    {                                                                          \
        -1                                                                     \
    }

typedef struct pl_dir {
    void *dirp; /* DIR *, kept opaque so <dirent.h> stays in the port */
} pl_dir_t;

/* ---- sockets and processes ------------------------------------------ */

/* A socket is a descriptor, as in lwIP's BSD API; poll() takes it. */
typedef int pl_socket_t;
#define PL_SOCKET_INVALID (-1)

/* Room for any address family the port supports (sockaddr_storage). */
typedef struct pl_sockaddr {
    uint32_t len;
    union {
        uint64_t align;
        unsigned char bytes[128];
    } u;
} pl_sockaddr_t;

typedef struct pl_wakeup {
    int rfd;
    int wfd;
} pl_wakeup_t;

typedef int pl_pid_t;

#endif /* PL_POSIX_TYPES_H */
