/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Tests of fleet-sim (bench/fleet/fleet-sim.c): 20 simulated devices
 * against a private mosquitto (tests/unit/common/broker.c), checked by an
 * independent client that plays the server through the public APIs only
 * (vmf/mqtt.h, vmf/fleet.h, vmf/vpk.h): it reads the devices' retained
 * States, sends commands, and answers chunk requests from packages it
 * packs itself.  argv[1] is the fleet-sim binary.  Every wait polls a
 * condition with a generous deadline.  The tests run in order on one
 * fleet; the last one stops it with SIGTERM.
 */

#define _GNU_SOURCE /* mkdtemp, prctl */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"
#include "vmf/fleet.h"
#include "vmf/mqtt.h"
#include "vmf/vpk.h"

#define NDEV 20
#define WAIT_MS 60000
#define CHUNK 1024u           /* chunk size served: a package is ~4 KiB */
#define FAIL_VERSION "6.6.6"
#define MAX_RES 512
#define MAX_EV 1024
#define MAX_PKG 8
#define NVMS 3

/* ---- what the "server" saw ------------------------------------------- */

typedef struct {
    int nstates;              /* States received */
    bool online;
    uint32_t nvms;
    char vm[NVMS][VMF_NAME_MAX];
    char ver[NVMS][VMF_VERSION_MAX];
    char st[NVMS][16];
    uint32_t nlabels;
    vmf_label_t label0;
    uint64_t cpu0, up0;       /* cpu_ms and uptime_ms of the first VM */
} seen_t;

typedef struct {
    int dev;
    vmf_result_t r;
    char corr[VMF_ID_MAX];
} res_t;

typedef struct {
    int dev;
    vmf_event_t e;
} ev_t;

typedef struct {
    char id[VMF_ID_MAX];      /* transfer id */
    uint8_t *buf;
    size_t len;
    uint8_t sha[32];
    bool corrupt;             /* serve chunk 1 with a bad CRC, always */
} pkg_t;

/* Received messages, queued by the client's callback. */
typedef struct rx {
    struct rx *next;
    char dev[VMF_ID_MAX];
    char leaf[32];
    uint8_t *p;
    size_t len;
    char corr[VMF_ID_MAX];
} rx_t;

static const char *sim_exe;
static test_broker_t broker;
static char dir[256];
static pid_t sim_pid;
static vmf_mqtt_t *cli;
static char priv_pem[VPK_PEM_MAX];

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static rx_t *qhead, *qtail;

static seen_t seen[NDEV];
static res_t res[MAX_RES];
static int nres;
static ev_t evs[MAX_EV];
static int nev;
static pkg_t pkgs[MAX_PKG];
static int npkg;
static unsigned served;       /* chunks served */

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    rx_t *n;

    (void)arg;
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return;
    if (vmf_topic_parse(m->topic, n->dev, sizeof(n->dev), n->leaf,
                        sizeof(n->leaf)) != 0 ||
        (n->p = malloc(m->len > 0 ? m->len : 1)) == NULL) {
        free(n);
        return;
    }
    if (m->len > 0)
        memcpy(n->p, m->payload, m->len);
    n->len = m->len;
    if (m->corr != NULL && m->corr_len < sizeof(n->corr))
        memcpy(n->corr, m->corr, m->corr_len);
    pthread_mutex_lock(&qlock);
    if (qtail != NULL)
        qtail->next = n;
    else
        qhead = n;
    qtail = n;
    pthread_cond_signal(&qcond);
    pthread_mutex_unlock(&qlock);
}

/* "sim-00007" -> 7; -1 if it is not one of ours. */
static int
dev_index(const char *id)
{
    char *end;
    long v;

    if (strncmp(id, "sim-", 4) != 0)
        return -1;
    v = strtol(id + 4, &end, 10);
    return *end == '\0' && v >= 0 && v < NDEV ? (int)v : -1;
}

static void
dev_name(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, "sim-%05d", i);
}

static pkg_t *
pkg_find(const char *id)
{
    int i;

    for (i = 0; i < npkg; i++)
        if (strcmp(pkgs[i].id, id) == 0)
            return &pkgs[i];
    return NULL;
}

/* Answer a chunk request from device dev. */
static void
serve(const char *dev, const rx_t *n)
{
    char topic[VMF_TOPIC_MAX];
    vmf_chunk_req_t q;
    vmf_mqtt_msg_t m;
    vmf_chunk_t c;
    uint8_t *buf, tmp[CHUNK];
    size_t len, nch;
    uint32_t i;
    pkg_t *p;

    assert_int_equal(vmf_chunk_req_decode(n->p, n->len, &q), 0);
    if ((p = pkg_find(q.xfer_id)) == NULL)
        return;
    nch = (p->len + CHUNK - 1) / CHUNK;
    assert_int_equal(vmf_topic(topic, sizeof(topic), dev, "xfer/data"), 0);
    for (i = q.first; i < nch && i - q.first < q.count; i++) {
        vmf_chunk_init(&c);
        memcpy(c.xfer_id, p->id, sizeof(c.xfer_id)); /* same size */
        c.index = i;
        c.len = i + 1 < nch ? CHUNK : p->len - (size_t)i * CHUNK;
        memcpy(tmp, p->buf + (size_t)i * CHUNK, c.len);
        c.data = tmp;
        c.crc32 = vmf_crc32(c.data, c.len);
        if (p->corrupt && i == 1)
            tmp[0] ^= 0xff;
        assert_int_equal(vmf_chunk_encode(&c, &buf, &len), 0);
        memset(&m, 0, sizeof(m));
        m.topic = topic;
        m.payload = buf;
        m.len = len;
        m.qos = 1;
        assert_int_equal(vmf_mqtt_publish(cli, &m), 0);
        free(buf);
        served++;
    }
}

/* Handle one received message. */
static void
handle(rx_t *n)
{
    int d = dev_index(n->dev);
    vmf_state_t st;
    uint32_t i;

    if (d < 0)
        return;
    if (strcmp(n->leaf, "state") == 0) {
        assert_int_equal(vmf_state_decode(n->p, n->len, &st), 0);
        assert_string_equal(st.device, n->dev);
        seen[d].nstates++;
        seen[d].online = st.online;
        seen[d].nlabels = st.nlabels;
        if (st.nlabels > 0)
            seen[d].label0 = st.labels[0];
        if (st.online) {
            seen[d].nvms = st.nvms;
            if (st.nvms > 0) {
                seen[d].cpu0 = st.vms[0].cpu_ms;
                seen[d].up0 = st.vms[0].uptime_ms;
            }
            for (i = 0; i < st.nvms && i < NVMS; i++) {
                snprintf(seen[d].vm[i], sizeof(seen[d].vm[i]), "%s",
                         st.vms[i].name);
                snprintf(seen[d].ver[i], sizeof(seen[d].ver[i]), "%s",
                         st.vms[i].version);
                snprintf(seen[d].st[i], sizeof(seen[d].st[i]), "%s",
                         st.vms[i].state);
            }
        }
        vmf_state_free(&st);
    } else if (strcmp(n->leaf, "result") == 0 && nres < MAX_RES) {
        assert_int_equal(vmf_result_decode(n->p, n->len, &res[nres].r), 0);
        res[nres].dev = d;
        snprintf(res[nres].corr, sizeof(res[nres].corr), "%s", n->corr);
        nres++;
    } else if (strcmp(n->leaf, "event") == 0 && nev < MAX_EV) {
        assert_int_equal(vmf_event_decode(n->p, n->len, &evs[nev].e), 0);
        evs[nev].dev = d;
        nev++;
    } else if (strcmp(n->leaf, "xfer/req") == 0) {
        serve(n->dev, n);
    }
}

/* Handle what arrives for up to ms. */
static void
pump(long ms)
{
    long long deadline = now_ms() + ms;
    struct timespec ts;
    rx_t *n;

    for (;;) {
        pthread_mutex_lock(&qlock);
        while (qhead == NULL && now_ms() < deadline) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 10 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&qcond, &qlock, &ts);
        }
        n = qhead;
        if (n != NULL && (qhead = n->next) == NULL)
            qtail = NULL;
        pthread_mutex_unlock(&qlock);
        if (n == NULL)
            return;
        handle(n);
        free(n->p);
        free(n);
    }
}

/* Pump until cond(arg) holds; false after WAIT_MS. */
static bool
pump_until(bool (*cond)(const void *), const void *arg)
{
    long long deadline = now_ms() + WAIT_MS;

    while (!cond(arg)) {
        if (now_ms() >= deadline)
            return false;
        pump(20);
    }
    return true;
}

/* ---- finding results ------------------------------------------------- */

/* Index of the n-th (0-based) final result for cmd id, or -1. */
static int
final_nth(const char *id, int nth)
{
    int i;

    for (i = 0; i < nres; i++)
        if (res[i].r.final && strcmp(res[i].r.cmd_id, id) == 0 &&
            nth-- == 0)
            return i;
    return -1;
}

static bool
has_final(const void *id)
{
    return final_nth(id, 0) >= 0;
}

static bool
has_second_final(const void *id)
{
    return final_nth(id, 1) >= 0;
}

static bool
has_accepted(const char *id)
{
    int i;

    for (i = 0; i < nres; i++)
        if (!res[i].r.final && strcmp(res[i].r.cmd_id, id) == 0 &&
            res[i].r.code == VMF_OK)
            return true;
    return false;
}

static bool
has_event(int dev, vmf_event_kind_t kind, const char *cmd_id)
{
    int i;

    for (i = 0; i < nev; i++)
        if (evs[i].dev == dev && evs[i].e.kind == kind &&
            strcmp(evs[i].e.cmd_id, cmd_id) == 0)
            return true;
    return false;
}

/* The final result for id (waits for it; fails the test without). */
static const vmf_result_t *
wait_final(const char *id)
{
    int i;

    if (!pump_until(has_final, id))
        fail_msg("no final result for %s in %d ms", id, WAIT_MS);
    i = final_nth(id, 0);
    assert_true(i >= 0);
    assert_string_equal(res[i].corr, id);
    return &res[i].r;
}

/* ---- commands and packages ------------------------------------------- */

/*
 * Send c to device dev.  raw_kind (> 0): the kind to send instead of
 * c->kind, one the encoder refuses: Command.kind is field 2 (a varint),
 * and a protobuf decoder keeps the last value of a scalar field, so it
 * is appended to an encoded valid command.
 */
static void
send_cmd_raw(int dev, const vmf_cmd_t *c, uint8_t raw_kind)
{
    char topic[VMF_TOPIC_MAX], name[VMF_ID_MAX];
    vmf_mqtt_msg_t m;
    uint8_t *buf, *more;
    size_t len;

    dev_name(name, sizeof(name), dev);
    assert_int_equal(vmf_topic(topic, sizeof(topic), name, "cmd"), 0);
    assert_int_equal(vmf_cmd_encode(c, &buf, &len), 0);
    if (raw_kind > 0) {
        assert_true(raw_kind < 0x80);
        assert_non_null(more = realloc(buf, len + 2));
        buf = more;
        buf[len++] = 2 << 3; /* field 2, varint */
        buf[len++] = raw_kind;
    }
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = 1;
    m.corr = (const uint8_t *)c->id;
    m.corr_len = strlen(c->id);
    assert_int_equal(vmf_mqtt_publish(cli, &m), 0);
    free(buf);
}

static void
send_cmd(int dev, const vmf_cmd_t *c)
{
    send_cmd_raw(dev, c, 0);
}

static void
simple_cmd(int dev, const char *id, vmf_cmd_kind_t kind, const char *vm)
{
    vmf_cmd_t c;

    vmf_cmd_init(&c);
    snprintf(c.id, sizeof(c.id), "%s", id);
    c.kind = kind;
    dev_name(c.device, sizeof(c.device), dev);
    snprintf(c.vm, sizeof(c.vm), "%s", vm != NULL ? vm : "");
    send_cmd(dev, &c);
}

/* Pack a ~4 KiB package of vm at version; served as transfer id. */
static pkg_t *
make_pkg(const char *vm, const char *version, bool corrupt)
{
    uint8_t module[4000];
    vpk_manifest_t man;
    char err[160];
    pkg_t *p;
    size_t i;

    assert_true(npkg < MAX_PKG);
    p = &pkgs[npkg++];
    memset(p, 0, sizeof(*p));
    memcpy(module, "\0asm\1\0\0\0", 8);
    for (i = 8; i < sizeof(module); i++)
        module[i] = (uint8_t)(i * 7 + (size_t)npkg);
    memset(&man, 0, sizeof(man));
    snprintf(man.vm_name, sizeof(man.vm_name), "%s", vm);
    snprintf(man.version, sizeof(man.version), "%s", version);
    assert_int_equal(vpk_pack(&man, module, sizeof(module), priv_pem,
                              &p->buf, &p->len, err, sizeof(err)),
                     0);
    assert_int_equal(vmf_sha256(p->buf, p->len, p->sha), 0);
    snprintf(p->id, sizeof(p->id), "x-%s-%s-%d", vm, version, npkg);
    p->corrupt = corrupt;
    return p;
}

static void
send_update(int dev, const char *id, const char *vm, const pkg_t *p)
{
    vmf_cmd_t c;

    vmf_cmd_init(&c);
    snprintf(c.id, sizeof(c.id), "%s", id);
    c.kind = VMF_CMD_UPDATE;
    dev_name(c.device, sizeof(c.device), dev);
    snprintf(c.vm, sizeof(c.vm), "%s", vm);
    c.has_xfer = true;
    snprintf(c.xfer.id, sizeof(c.xfer.id), "%s", p->id);
    c.xfer.size = p->len;
    memcpy(c.xfer.sha256, p->sha, sizeof(p->sha));
    c.xfer.chunk_size = CHUNK;
    send_cmd(dev, &c);
}

static int
vm_slot(int dev, const char *vm)
{
    uint32_t i;

    for (i = 0; i < seen[dev].nvms && i < NVMS; i++)
        if (strcmp(seen[dev].vm[i], vm) == 0)
            return (int)i;
    return -1;
}

typedef struct {
    int dev;
    const char *vm;
    const char *version;
    const char *state;
} vm_want_t;

static bool
vm_is(const void *arg)
{
    const vm_want_t *w = arg;
    int s = vm_slot(w->dev, w->vm);

    return s >= 0 && seen[w->dev].online &&
           (w->version == NULL ||
            strcmp(seen[w->dev].ver[s], w->version) == 0) &&
           (w->state == NULL || strcmp(seen[w->dev].st[s], w->state) == 0);
}

/* ---- setup ---------------------------------------------------------- */

static int
group_setup(void **state)
{
    char err[256], pub_pem[VPK_PEM_MAX], log[300], key[300];
    vmf_mqtt_config_t mc;
    const char *filters[] = { "vmfleet/v1/+/state", "vmfleet/v1/+/result",
                              "vmfleet/v1/+/event",
                              "vmfleet/v1/+/xfer/req" };
    size_t i;
    FILE *f;
    int fd;

    (void)state;
    if (test_broker_start(&broker, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_fleet_sim: %s\n", err);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", broker.dir);
    if (vpk_key_gen(priv_pem, sizeof(priv_pem), pub_pem, sizeof(pub_pem)) !=
        0)
        return -1;
    snprintf(key, sizeof(key), "%s/fleet.pub", dir);
    if ((f = fopen(key, "w")) == NULL || fputs(pub_pem, f) < 0 ||
        fclose(f) != 0)
        return -1;

    /* The "server": our own client on every device's topics. */
    memset(&mc, 0, sizeof(mc));
    mc.uri = broker.uri;
    mc.client_id = "fleet-sim-test";
    mc.clean_start = true;
    if (vmf_mqtt_create(&mc, on_msg, NULL, NULL, &cli, err, sizeof(err)) !=
        0)
        return -1;
    for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        if (vmf_mqtt_subscribe(cli, filters[i], 1) != 0)
            return -1;
    if (vmf_mqtt_start(cli) != 0 ||
        vmf_mqtt_wait_connected(cli, WAIT_MS) != 0)
        return -1;

    snprintf(log, sizeof(log), "%s/fleet-sim.log", dir);
    if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        return -1;
    if ((sim_pid = fork()) < 0)
        return -1;
    if (sim_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(sim_exe, sim_exe, "--broker", broker.uri, "--devices", "20",
              "--health-ms", "200", "--fail-version", FAIL_VERSION,
              "--connect-rate", "100", "--labels", "site=test,rack=r1",
              "--trust", key, "--window", "4", (char *)NULL);
        _exit(127);
    }
    close(fd);
    return 0;
}

static int
group_teardown(void **state)
{
    char log[300], line[512];
    FILE *f;
    int i;

    (void)state;
    if (sim_pid > 0) {
        kill(sim_pid, SIGKILL);
        waitpid(sim_pid, NULL, 0);
    }
    vmf_mqtt_destroy(cli);
    for (i = 0; i < npkg; i++)
        free(pkgs[i].buf);
    snprintf(log, sizeof(log), "%s/fleet-sim.log", dir);
    if (getenv("VMF_KEEP_BROKER_LOG") != NULL &&
        (f = fopen(log, "r")) != NULL) {
        while (fgets(line, sizeof(line), f) != NULL)
            fprintf(stderr, "| %s", line);
        fclose(f);
    }
    unlink(log);
    snprintf(log, sizeof(log), "%s/fleet.pub", dir);
    unlink(log);
    test_broker_cleanup(&broker);
    return 0;
}

/* ---- tests ----------------------------------------------------------- */

static bool
all_online(const void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < NDEV; i++)
        if (!seen[i].online || seen[i].nvms != NVMS)
            return false;
    return true;
}

static void
test_fleet_sim_every_device_online(void **state)
{
    int i;

    (void)state;
    assert_true(pump_until(all_online, NULL));
    for (i = 0; i < NDEV; i++) {
        assert_string_equal(seen[i].vm[0], "sensor");
        assert_string_equal(seen[i].vm[1], "net");
        assert_string_equal(seen[i].vm[2], "ctl");
        assert_string_equal(seen[i].ver[0], "1.0.0");
        assert_string_equal(seen[i].st[2], "running");
        assert_int_equal(seen[i].nlabels, 2);
        assert_string_equal(seen[i].label0.key, "site");
        assert_string_equal(seen[i].label0.value, "test");
    }
}

static void
test_fleet_sim_inventory_ok(void **state)
{
    const vmf_result_t *r;
    int before = seen[7].nstates;

    (void)state;
    simple_cmd(7, "inv-1", VMF_CMD_INVENTORY, NULL);
    r = wait_final("inv-1");
    assert_int_equal(r->code, VMF_OK);
    assert_int_equal(r->kind, VMF_CMD_INVENTORY);
    pump(100);
    assert_true(seen[7].nstates > before); /* the State came first */
}

static void
test_fleet_sim_update_ok_and_duplicate(void **state)
{
    vm_want_t w = { 3, "sensor", "1.1.0", "running" };
    const vmf_result_t *r;
    unsigned served0 = served, served1;
    pkg_t *p = make_pkg("sensor", "1.1.0", false);
    int i;

    (void)state;
    send_update(3, "up-3", "sensor", p);
    r = wait_final("up-3");
    assert_int_equal(r->code, VMF_OK);
    assert_string_equal(r->version, "1.1.0");
    assert_true(has_accepted("up-3"));
    assert_true(has_event(3, VMF_EV_COMMIT, "up-3"));
    assert_true(has_event(3, VMF_EV_PROGRESS, "up-3"));
    /* Every chunk pulled at least once (4 KiB in 1 KiB chunks). */
    assert_true(served - served0 >= (p->len + CHUNK - 1) / CHUNK);
    assert_true(pump_until(vm_is, &w));
    /* The same id again: the stored result, no new transfer. */
    served1 = served;
    send_update(3, "up-3", "sensor", p);
    assert_true(pump_until(has_second_final, "up-3"));
    i = final_nth("up-3", 1);
    assert_int_equal(res[i].r.code, VMF_OK);
    assert_string_equal(res[i].r.version, "1.1.0");
    assert_int_equal(served, served1);
    /* Other devices are untouched. */
    assert_string_equal(seen[4].ver[0], "1.0.0");
}

static void
test_fleet_sim_update_fail_version_rolls_back(void **state)
{
    vm_want_t w = { 4, "sensor", "1.0.0", "running" };
    const vmf_result_t *r;
    pkg_t *p = make_pkg("sensor", FAIL_VERSION, false);

    (void)state;
    send_update(4, "up-4", "sensor", p);
    r = wait_final("up-4");
    assert_int_equal(r->code, VMF_E_ROLLED_BACK);
    assert_string_equal(r->version, "1.0.0");
    assert_true(has_event(4, VMF_EV_ROLLBACK, "up-4"));
    assert_false(has_event(4, VMF_EV_COMMIT, "up-4"));
    pump(100);
    assert_true(vm_is(&w));
}

static void
test_fleet_sim_update_rejections(void **state)
{
    const vmf_result_t *r;
    pkg_t *net = make_pkg("net", "2.0.0", false);
    pkg_t *bad = make_pkg("sensor", "1.2.0", true);
    pkg_t *old = make_pkg("sensor", "0.9.0", false);

    (void)state;
    send_update(5, "wrong-vm", "sensor", net);
    r = wait_final("wrong-vm");
    assert_int_equal(r->code, VMF_E_WRONG_VM);
    assert_string_equal(r->version, "1.0.0");

    send_update(5, "corrupt", "sensor", bad);
    r = wait_final("corrupt");
    assert_int_equal(r->code, VMF_E_CORRUPT_CHUNK);

    send_update(5, "downgrade", "sensor", old);
    r = wait_final("downgrade");
    assert_int_equal(r->code, VMF_E_DOWNGRADE);

    simple_cmd(5, "no-xfer", VMF_CMD_UPDATE, "sensor");
    r = wait_final("no-xfer");
    assert_int_equal(r->code, VMF_E_INVALID);
}

static void
test_fleet_sim_lifecycle(void **state)
{
    vm_want_t w = { 6, "net", "1.0.0", "suspended" };
    const vmf_result_t *r;
    vmf_cmd_t c;

    (void)state;
    simple_cmd(6, "s1", VMF_CMD_SUSPEND, "net");
    assert_int_equal(wait_final("s1")->code, VMF_OK);
    assert_true(pump_until(vm_is, &w));
    simple_cmd(6, "s2", VMF_CMD_SUSPEND, "net");
    assert_int_equal(wait_final("s2")->code, VMF_E_STATE);
    simple_cmd(6, "r1", VMF_CMD_RESUME, "net");
    assert_int_equal(wait_final("r1")->code, VMF_OK);
    w.state = "running";
    assert_true(pump_until(vm_is, &w));
    simple_cmd(6, "nf", VMF_CMD_START, "nope");
    assert_int_equal(wait_final("nf")->code, VMF_E_NOT_FOUND);
    vmf_cmd_init(&c);
    snprintf(c.id, sizeof(c.id), "unk");
    c.kind = VMF_CMD_START;
    snprintf(c.device, sizeof(c.device), "sim-00006");
    snprintf(c.vm, sizeof(c.vm), "net");
    send_cmd_raw(6, &c, 99);
    r = wait_final("unk");
    assert_int_equal(r->code, VMF_E_UNKNOWN_COMMAND);
    assert_int_equal(r->kind, 99);
}

static bool
all_final(const void *arg)
{
    char id[VMF_ID_MAX];
    int i;

    (void)arg;
    for (i = 0; i < NDEV; i++) {
        snprintf(id, sizeof(id), "all-%d", i);
        if (final_nth(id, 0) < 0)
            return false;
    }
    return true;
}

static void
test_fleet_sim_update_every_device(void **state)
{
    pkg_t *p = make_pkg("ctl", "2.0.0", false);
    char id[VMF_ID_MAX];
    int i, k;

    (void)state;
    for (i = 0; i < NDEV; i++) {
        snprintf(id, sizeof(id), "all-%d", i);
        send_update(i, id, "ctl", p);
    }
    assert_true(pump_until(all_final, NULL));
    for (i = 0; i < NDEV; i++) {
        snprintf(id, sizeof(id), "all-%d", i);
        k = final_nth(id, 0);
        assert_int_equal(res[k].dev, i);
        assert_int_equal(res[k].r.code, VMF_OK);
        assert_string_equal(res[k].r.version, "2.0.0");
    }
}

/* The final result of `id`, with its data copied to text (NUL-ended). */
static const vmf_result_t *
final_text(const char *id, char *text, size_t cap)
{
    const vmf_result_t *r = wait_final(id);
    int k = final_nth(id, 0);

    assert_true(r->len < cap);
    if (r->len > 0)
        memcpy(text, r->data, r->len);
    text[r->len] = '\0';
    /* The array keeps the rest; the data is freed now. */
    free(res[k].r.data);
    res[k].r.data = NULL;
    return r;
}

static void
test_fleet_sim_logs_and_cpu(void **state)
{
    const vmf_result_t *r;
    uint64_t cpu, up;
    char text[4096];
    vmf_cmd_t c;
    int before;

    (void)state;
    /* CPU time and uptime grow between two States. */
    before = seen[9].nstates;
    simple_cmd(9, "inv-9a", VMF_CMD_INVENTORY, NULL);
    assert_int_equal(wait_final("inv-9a")->code, VMF_OK);
    pump(100);
    assert_true(seen[9].nstates > before);
    cpu = seen[9].cpu0;
    up = seen[9].up0;
    assert_true(up > 0 && cpu > 0 && cpu < up);
    pump(300);
    before = seen[9].nstates;
    simple_cmd(9, "inv-9b", VMF_CMD_INVENTORY, NULL);
    assert_int_equal(wait_final("inv-9b")->code, VMF_OK);
    pump(100);
    assert_true(seen[9].nstates > before);
    assert_true(seen[9].up0 >= up + 300);
    assert_true(seen[9].cpu0 > cpu);

    /* LOGS: a few lines, whole or cut to log_bytes; an unknown VM. */
    simple_cmd(9, "logs-1", VMF_CMD_LOGS, "sensor");
    r = final_text("logs-1", text, sizeof(text));
    assert_int_equal(r->code, VMF_OK);
    assert_int_equal(r->kind, VMF_CMD_LOGS);
    assert_string_equal(r->message, "complete");
    assert_non_null(strstr(text, "sensor 1.0.0 on sim-00009"));
    assert_non_null(strstr(text, "[INFO] tick 7 "));
    vmf_cmd_init(&c);
    snprintf(c.id, sizeof(c.id), "logs-2");
    c.kind = VMF_CMD_LOGS;
    dev_name(c.device, sizeof(c.device), 9);
    snprintf(c.vm, sizeof(c.vm), "sensor");
    c.log_bytes = 10;
    send_cmd(9, &c);
    r = final_text("logs-2", text, sizeof(text));
    assert_int_equal(r->code, VMF_OK);
    assert_int_equal(strlen(text), 10);
    assert_string_equal(r->message, "truncated");
    assert_int_equal(text[9], '\n');
    simple_cmd(9, "logs-3", VMF_CMD_LOGS, "nope");
    assert_int_equal(wait_final("logs-3")->code, VMF_E_NOT_FOUND);
    simple_cmd(9, "logs-4", VMF_CMD_LOGS, NULL);
    assert_int_equal(wait_final("logs-4")->code, VMF_E_INVALID);
}

static bool
all_offline(const void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < NDEV; i++)
        if (seen[i].online)
            return false;
    return true;
}

static void
test_fleet_sim_sigterm_says_offline(void **state)
{
    long long deadline = now_ms() + WAIT_MS;
    int st = -1;
    pid_t got;

    (void)state;
    assert_int_equal(kill(sim_pid, SIGTERM), 0);
    while ((got = waitpid(sim_pid, &st, WNOHANG)) == 0 &&
           now_ms() < deadline)
        pump(20);
    assert_int_equal(got, sim_pid);
    sim_pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(pump_until(all_offline, NULL));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_sim_every_device_online),
        cmocka_unit_test(test_fleet_sim_inventory_ok),
        cmocka_unit_test(test_fleet_sim_update_ok_and_duplicate),
        cmocka_unit_test(test_fleet_sim_update_fail_version_rolls_back),
        cmocka_unit_test(test_fleet_sim_update_rejections),
        cmocka_unit_test(test_fleet_sim_lifecycle),
        cmocka_unit_test(test_fleet_sim_logs_and_cpu),
        cmocka_unit_test(test_fleet_sim_update_every_device),
        cmocka_unit_test(test_fleet_sim_sigterm_says_offline),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: test_fleet_sim FLEET_SIM\n");
        return 2;
    }
    sim_exe = argv[1];
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
