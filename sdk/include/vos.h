/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VOS_H
#define VOS_H

/*
 * vos.h: the virtual OS that vmfleet VM programs see, whatever OS or board
 * runs underneath.  Functions are imported from the wasm module "vos";
 * WASI preview1 (through wasi-libc: stdio, files in the VM's own root,
 * clocks, sleep, exit) works beside it.  Reference: docs/vos-api.md.
 *
 * Conventions
 * - Every function returns >= 0 on success and a negative VOS_E* code on
 *   failure.  Objects are integer handles (> 0), private to the VM, closed
 *   with vos_close().
 * - Timeouts are in milliseconds: VOS_NO_WAIT (0) polls, VOS_FOREVER waits
 *   without limit.  A call that waits gives up the CPU; other threads and
 *   VMs run meanwhile.
 * - Pointers are ordinary C pointers into the VM's memory; lengths are
 *   bytes.  Names (devices, services, topics) are given with a length, so
 *   they need no NUL.  The helper macros below pass strlen() for you.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Off wasm (the runtime includes this file for the codes and constants)
 * the import attributes mean nothing and would only warn. */
#if defined(__wasm__)
#define VOS_IMPORT(name)                                                     \
    __attribute__((import_module("vos"), import_name(#name)))
#else
#define VOS_IMPORT(name)
#endif

/* ---- errors ---------------------------------------------------------- */
#define VOS_OK 0
#define VOS_EPERM (-1)        /* not granted by the manifest */
#define VOS_ENOENT (-2)       /* no such device, service, key */
#define VOS_EINVAL (-3)
#define VOS_ENOMEM (-4)
#define VOS_ETIMEDOUT (-5)
#define VOS_EAGAIN (-6)       /* would block / queue full with no wait */
#define VOS_EBADF (-7)        /* bad handle, or handle of another kind */
#define VOS_EBUSY (-8)        /* held exclusively by another VM */
#define VOS_ECONNRESET (-9)   /* the peer VM crashed, stopped or restarted */
#define VOS_ENOSPC (-10)      /* storage quota */
#define VOS_EMSGSIZE (-11)    /* message larger than the buffer/limit */
#define VOS_ENOSYS (-12)
#define VOS_EFAULT (-13)      /* pointer outside the VM's memory */
#define VOS_ECONNREFUSED (-14)
#define VOS_ECLOSED (-15)     /* the object was closed while waiting */

#define VOS_NO_WAIT 0u
#define VOS_FOREVER 0xffffffffu

/* ---- handles --------------------------------------------------------- */
VOS_IMPORT(close) int vos_close(int h);

/* ---- threads (green threads inside this VM) -------------------------- */
/*
 * vos_thread_create: run entry(arg) in a new thread with priority prio
 * (0 highest .. 31, relative to this VM's other threads) on the stack
 * [stack, stack + stack_size) that the caller allocated.  Use
 * vos_thread_spawn(), which allocates the stack.  Returns a thread handle.
 */
VOS_IMPORT(thread_create)
int vos_thread_create(void (*entry)(void *), void *arg, int prio,
                      void *stack, uint32_t stack_size);
/*
 * Wait for a thread to end; then its handle is closed.  vos_thread_join is
 * the SDK library's wrapper (sdk/lib, linked into every program): it also
 * frees the stack vos_thread_spawn() allocated.  vos_thread_join_raw is
 * the import itself (same wasm import name, "thread_join").
 */
VOS_IMPORT(thread_join) int vos_thread_join_raw(int th, uint32_t timeout_ms);
int vos_thread_join(int th, uint32_t timeout_ms);
VOS_IMPORT(thread_self) int vos_thread_self(void);
VOS_IMPORT(yield) void vos_yield(void);

/* ---- time ------------------------------------------------------------ */
VOS_IMPORT(sleep_us) int vos_sleep_us(uint64_t us);
VOS_IMPORT(time_mono_us) uint64_t vos_time_mono_us(void);
VOS_IMPORT(time_real_us) uint64_t vos_time_real_us(void);

/* ---- synchronization ------------------------------------------------- */
VOS_IMPORT(mutex_create) int vos_mutex_create(void);
VOS_IMPORT(mutex_lock) int vos_mutex_lock(int m, uint32_t timeout_ms);
VOS_IMPORT(mutex_unlock) int vos_mutex_unlock(int m);

VOS_IMPORT(sem_create) int vos_sem_create(uint32_t initial, uint32_t max);
VOS_IMPORT(sem_take) int vos_sem_take(int s, uint32_t timeout_ms);
VOS_IMPORT(sem_give) int vos_sem_give(int s);

#define VOS_EV_ANY 0u   /* wait for any of the bits */
#define VOS_EV_ALL 1u   /* wait for all of the bits */
#define VOS_EV_CLEAR 2u /* clear the bits that satisfied the wait */
VOS_IMPORT(event_create) int vos_event_create(void);
VOS_IMPORT(event_set) int vos_event_set(int e, uint32_t bits);
VOS_IMPORT(event_clear) int vos_event_clear(int e, uint32_t bits);
/* Returns the event's bits at the moment the wait was satisfied. */
VOS_IMPORT(event_wait)
int vos_event_wait(int e, uint32_t bits, uint32_t flags, uint32_t timeout_ms);

/* Fixed-size messages, bounded depth: send waits while full. */
VOS_IMPORT(queue_create) int vos_queue_create(uint32_t msg_size,
                                              uint32_t depth);
VOS_IMPORT(queue_send)
int vos_queue_send(int q, const void *msg, uint32_t timeout_ms);
VOS_IMPORT(queue_recv) int vos_queue_recv(int q, void *msg,
                                          uint32_t timeout_ms);

/* ---- timers: fn(arg) runs in a thread of this VM, ahead of others ---- */
VOS_IMPORT(timer_create)
int vos_timer_create(void (*fn)(void *), void *arg);
/* Fire after first_ms, then every period_ms (0 = once). */
VOS_IMPORT(timer_start)
int vos_timer_start(int t, uint32_t first_ms, uint32_t period_ms);
VOS_IMPORT(timer_stop) int vos_timer_stop(int t);

/* ---- logs and configuration ----------------------------------------- */
#define VOS_LOG_ERR 3
#define VOS_LOG_WARN 4
#define VOS_LOG_INFO 6
#define VOS_LOG_DEBUG 7
VOS_IMPORT(log) int vos_log(int level, const char *msg, uint32_t len);
/* Per-VM key-value configuration, persisted by the runtime. Returns the
 * value's length (which may exceed cap: then only cap bytes are copied). */
VOS_IMPORT(config_get)
int vos_config_get(const char *key, uint32_t key_len, char *val, uint32_t cap);
VOS_IMPORT(config_set)
int vos_config_set(const char *key, uint32_t key_len, const char *val,
                   uint32_t len);

/* ---- virtual devices ------------------------------------------------- */
/* Names: led0.., uart0.., temp0.., spi0.., i2c0.., flash0.., lcd0.. */
VOS_IMPORT(dev_open) int vos_dev_open(const char *name, uint32_t name_len);
VOS_IMPORT(dev_read)
int vos_dev_read(int d, void *buf, uint32_t len, uint32_t timeout_ms);
VOS_IMPORT(dev_write) int vos_dev_write(int d, const void *buf, uint32_t len);
/* Device-specific control: see docs/vos-api.md for each device's cmds. */
VOS_IMPORT(dev_ioctl)
int vos_dev_ioctl(int d, uint32_t cmd, void *arg, uint32_t arg_len);
/* The device's interrupt line, for vos_irq_attach(). */
VOS_IMPORT(dev_irq) int vos_dev_irq(int d);

/* vos_dev_ioctl commands (docs/vos-api.md, "Devices").  Arguments are
 * arrays of little-endian uint32_t; arg_len is their size in bytes. */
#define VOS_IOC_LED_TOGGLE 0x0101u    /* -> the new state (0/1) */
#define VOS_IOC_UART_AVAIL 0x0201u    /* -> bytes waiting to be read */
#define VOS_IOC_TEMP_SET_RATE 0x0301u /* arg: {period_ms} (10..60000) */
#define VOS_IOC_TEMP_IRQ 0x0302u      /* arg: {1 = irq per sample, 0 = off} */
#define VOS_IOC_BUS_SELECT 0x0401u    /* spi/i2c: arg {slave address} */
#define VOS_IOC_FLASH_INFO 0x0501u    /* arg out: {block_size, blocks} */
#define VOS_IOC_FLASH_SEEK 0x0502u    /* arg: {byte offset} */
#define VOS_IOC_FLASH_ERASE 0x0503u   /* arg: {block index}: all 0xff */
#define VOS_IOC_LCD_INFO 0x0601u      /* arg out: {width, height, format} */
#define VOS_IOC_LCD_SEEK 0x0602u      /* arg: {x, y} of the next pixel */
#define VOS_IOC_LCD_FLUSH 0x0603u     /* show what was written */
#define VOS_LCD_RGB565 1u             /* pixel format: 2 bytes, LE */

/* ---- virtual interrupts ---------------------------------------------- */
/* handler(irq, arg) runs in this VM ahead of its threads. */
#define VOS_IRQ_POWER 0u /* power events; see vos_power_event() */
VOS_IMPORT(irq_attach)
int vos_irq_attach(uint32_t irq, void (*handler)(uint32_t irq, void *arg),
                   void *arg);
VOS_IMPORT(irq_detach) int vos_irq_detach(uint32_t irq);
VOS_IMPORT(irq_mask) int vos_irq_mask(uint32_t irq);
VOS_IMPORT(irq_unmask) int vos_irq_unmask(uint32_t irq);

/* ---- IPC between VMs ------------------------------------------------- */
/* Provide a service named in the manifest's `provides`. */
VOS_IMPORT(ipc_serve_open)
int vos_ipc_serve_open(const char *svc, uint32_t svc_len);
/*
 * Take the next request (a call or a one-way message).  Returns its length
 * and sets *tag: pass it to vos_ipc_reply() for a call; 0 for a one-way
 * message, which needs no reply.
 */
VOS_IMPORT(ipc_serve_next)
int vos_ipc_serve_next(int srv, void *req, uint32_t cap, uint32_t *tag,
                       uint32_t timeout_ms);
VOS_IMPORT(ipc_reply)
int vos_ipc_reply(int srv, uint32_t tag, const void *resp, uint32_t len);
/* Call a service named in the manifest's `calls`; returns the reply's
 * length.  VOS_ECONNRESET if the server dies or restarts meanwhile. */
VOS_IMPORT(ipc_call)
int vos_ipc_call(const char *svc, uint32_t svc_len, const void *req,
                 uint32_t req_len, void *resp, uint32_t cap,
                 uint32_t timeout_ms);
VOS_IMPORT(ipc_send)
int vos_ipc_send(const char *svc, uint32_t svc_len, const void *msg,
                 uint32_t len, uint32_t timeout_ms);
VOS_IMPORT(ipc_subscribe)
int vos_ipc_subscribe(const char *topic, uint32_t topic_len);
VOS_IMPORT(ipc_publish)
int vos_ipc_publish(const char *topic, uint32_t topic_len, const void *data,
                    uint32_t len, uint32_t timeout_ms);
VOS_IMPORT(ipc_recv)
int vos_ipc_recv(int sub, void *buf, uint32_t cap, uint32_t timeout_ms);

/* ---- network: only to endpoints on the manifest's allowlist ---------- */
#define VOS_SOCK_TCP 0
#define VOS_SOCK_UDP 1
VOS_IMPORT(sock_open) int vos_sock_open(int type);
/* addr: "host:port" text, e.g. "127.0.0.1:1883". */
VOS_IMPORT(sock_connect)
int vos_sock_connect(int s, const char *addr, uint32_t addr_len,
                     uint32_t timeout_ms);
VOS_IMPORT(sock_bind)
int vos_sock_bind(int s, const char *addr, uint32_t addr_len);
VOS_IMPORT(sock_listen) int vos_sock_listen(int s, int backlog);
VOS_IMPORT(sock_accept) int vos_sock_accept(int s, uint32_t timeout_ms);
VOS_IMPORT(sock_send)
int vos_sock_send(int s, const void *buf, uint32_t len, uint32_t timeout_ms);
VOS_IMPORT(sock_recv)
int vos_sock_recv(int s, void *buf, uint32_t cap, uint32_t timeout_ms);
VOS_IMPORT(sock_sendto)
int vos_sock_sendto(int s, const void *buf, uint32_t len, const char *addr,
                    uint32_t addr_len);
VOS_IMPORT(sock_recvfrom)
int vos_sock_recvfrom(int s, void *buf, uint32_t cap, char *addr,
                      uint32_t addr_cap, uint32_t timeout_ms);

/* ---- watchdog, power, OTA -------------------------------------------- */
/* With a manifest watchdog, call at least every watchdog_ms or be
 * restarted. */
VOS_IMPORT(wdt_kick) int vos_wdt_kick(void);
#define VOS_POWER_SUSPEND 1
#define VOS_POWER_RESUME 2
#define VOS_POWER_SHUTDOWN 3
/* The pending power event (after VOS_IRQ_POWER), or 0. */
VOS_IMPORT(power_event) int vos_power_event(void);
/* Acknowledge it before the runtime's deadline. */
VOS_IMPORT(power_ack) int vos_power_ack(int event);
/* A new image whose manifest asks for it confirms it is healthy. */
VOS_IMPORT(ota_confirm) int vos_ota_confirm(void);

/* ---- helpers --------------------------------------------------------- */
#define VOS_STR(s) (s), (uint32_t)__builtin_strlen(s)

/* Allocate a stack and start a thread; the stack is freed at join. */
int vos_thread_spawn(void (*entry)(void *), void *arg, int prio,
                     uint32_t stack_size);

#ifdef __cplusplus
}
#endif
#endif /* VOS_H */
