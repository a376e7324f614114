/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld: vmctld's core (ctld.h).  This file holds its life (create, start,
 * destroy), the MQTT callbacks that route each device message to
 * ctld_dev.c or ctld_cmd.c, the ticker thread, events, and small helpers
 * (ids, hex, a hash map).  See ctld_internal.h for the locking rules.
 */

#define _GNU_SOURCE /* getrandom, pthread_condattr_setclock */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ctld_internal.h"

#ifndef VMF_VERSION
#define VMF_VERSION "0.0.0"
#endif

#define KEY_FILE_MAX (16u * 1024u) /* a PEM public key is < 1 KiB */

static const struct {
    int code;
    const char *text;
} errtab[] = {
#define CTLD_ERR_ROW(name, val, text) { (val), (text) },
    CTLD_ERRORS(CTLD_ERR_ROW)
#undef CTLD_ERR_ROW
};

const char *
ctld_strerror(int err)
{
    size_t i;

    if (err == 0)
        return "success";
    for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

const char *
ctld_cmd_state_name(ctld_cmd_state_t s)
{
    static const char *const names[] = {
        "queued",    "sent",    "accepted",  "succeeded",
        "failed",    "expired", "timed_out", "cancelled",
    };

    if ((size_t)s >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[s];
}

bool
ctld_cmd_state_final(ctld_cmd_state_t s)
{
    return s >= CTLD_CMD_SUCCEEDED && s <= CTLD_CMD_CANCELLED;
}

/* ---- helpers ------------------------------------------------------------ */

int64_t
ctld__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec
ctld__mono_after(uint32_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int
ctld__err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int
ctld__reg_err(vmctld_reg_t *reg, int rc, char *err, size_t errlen,
              const char *what)
{
    int out;

    switch (rc) {
    case VMCTLD_REG_EINVAL:
        out = CTLD_EINVAL;
        break;
    case VMCTLD_REG_ENOMEM:
        out = CTLD_ENOMEM;
        break;
    case VMCTLD_REG_ENOTFOUND:
        out = CTLD_ENOTFOUND;
        break;
    case VMCTLD_REG_EEXIST:
        out = CTLD_EEXIST;
        break;
    case VMCTLD_REG_EINUSE:
        out = CTLD_EINUSE;
        break;
    case VMCTLD_REG_ESTATE:
        out = CTLD_ESTATE;
        break;
    default:
        out = CTLD_EDB;
        break;
    }
    if (out == CTLD_EDB)
        LOG_ERR("registry: %s: %s", what, vmctld_reg_errmsg(reg));
    return ctld__err(err, errlen, out, "%s: %s", what,
                     vmctld_reg_errmsg(reg));
}

vmctld_reg_t *
ctld__rd_lock(ctld_t *c)
{
    if (c->rd == NULL) {
        pthread_mutex_lock(&c->lock);
        return c->reg;
    }
    pthread_mutex_lock(&c->rdlock);
    return c->rd;
}

void
ctld__rd_unlock(ctld_t *c)
{
    pthread_mutex_unlock(c->rd == NULL ? &c->lock : &c->rdlock);
}

void
ctld__hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void
ctld__rand_id(char *buf, size_t len, char prefix)
{
    uint8_t r[8];
    size_t got = 0;
    ssize_t n;
    char h[17];

    while (got < sizeof(r)) {
        n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof(r)) {
        /* No entropy source: the time still gives unique ids. */
        uint64_t t = (uint64_t)ctld__now_ms() ^ (uint64_t)rand() << 32;

        memcpy(r, &t, sizeof(r));
    }
    ctld__hex(r, sizeof(r), h);
    snprintf(buf, len, "%c%s", prefix, h);
}

bool
ctld__sha_ok(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

const char *
ctld__code_name(int32_t code, char *buf, size_t len)
{
    const char *n = vmf_code_name(code);

    if (strcmp(n, "?") != 0)
        return n;
    snprintf(buf, len, "%d", (int)code);
    return buf;
}

void
ctld__emit(ctld_t *c, ctld_event_type_t type, const char *device,
           const char *id, const char *vm, const char *what, int32_t code,
           const char *detail, uint32_t percent)
{
    ctld_event_t ev;

    if (c->sink == NULL)
        return;
    ev.type = type;
    ev.device = device != NULL ? device : "";
    ev.id = id != NULL ? id : "";
    ev.vm = vm != NULL ? vm : "";
    ev.what = what != NULL ? what : "";
    ev.code = code;
    ev.detail = detail != NULL ? detail : "";
    ev.percent = percent;
    ev.time_ms = ctld__now_ms();
    c->sink(c->sink_arg, &ev);
}

int
ctld__publish(ctld_t *c, const char *device, const char *leaf,
              const uint8_t *buf, size_t len, const char *corr)
{
    char topic[VMF_TOPIC_MAX];
    vmf_mqtt_msg_t m;
    int rc;

    if (c->mqtt == NULL)
        return VMF_MQTT_ENOTCONN;
    if (vmf_topic(topic, sizeof(topic), device, leaf) != 0)
        return VMF_MQTT_EINVAL;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = 1;
    if (corr != NULL) {
        m.corr = (const uint8_t *)corr;
        m.corr_len = strlen(corr);
    }
    if ((rc = vmf_mqtt_publish(c->mqtt, &m)) != 0)
        LOG_WARN("mqtt: publish to %s failed: %s", topic,
                 vmf_mqtt_strerror(rc));
    return rc;
}

/* ---- the map ------------------------------------------------------------ */

/* FNV-1a: ids are short and not chosen to collide. */
static size_t
hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    while (*s != '\0') {
        h ^= (uint8_t)*s++;
        h *= 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 29));
}

/* Double the buckets; on failure the map stays as it was. */
static int
map_grow(ctld__map_t *m)
{
    size_t nb = m->nb != 0 ? m->nb * 2 : 64, i;
    ctld__ment_t **b, *e, *next;

    if ((b = calloc(nb, sizeof(*b))) == NULL)
        return CTLD_ENOMEM;
    for (i = 0; i < m->nb; i++) {
        for (e = m->b[i]; e != NULL; e = next) {
            size_t k = hash_str(e->key) & (nb - 1);

            next = e->next;
            e->next = b[k];
            b[k] = e;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int
ctld__map_put(ctld__map_t *m, const char *key, void *val)
{
    ctld__ment_t *e;
    size_t k;

    if (m->nb == 0 || m->n >= m->nb) {
        if (map_grow(m) != 0 && m->nb == 0)
            return CTLD_ENOMEM;
    }
    k = hash_str(key) & (m->nb - 1);
    for (e = m->b[k]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->key = key;
            e->val = val;
            return 0;
        }
    }
    if ((e = malloc(sizeof(*e))) == NULL)
        return CTLD_ENOMEM;
    e->key = key;
    e->val = val;
    e->next = m->b[k];
    m->b[k] = e;
    m->n++;
    return 0;
}

void *
ctld__map_get(const ctld__map_t *m, const char *key)
{
    const ctld__ment_t *e;

    if (m->nb == 0 || key == NULL)
        return NULL;
    for (e = m->b[hash_str(key) & (m->nb - 1)]; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

void *
ctld__map_del(ctld__map_t *m, const char *key)
{
    ctld__ment_t **pp, *e;
    void *val;

    if (m->nb == 0 || key == NULL)
        return NULL;
    for (pp = &m->b[hash_str(key) & (m->nb - 1)]; (e = *pp) != NULL;
         pp = &e->next) {
        if (strcmp(e->key, key) == 0) {
            *pp = e->next;
            val = e->val;
            free(e);
            m->n--;
            return val;
        }
    }
    return NULL;
}

void
ctld__map_each(const ctld__map_t *m, void (*fn)(void *arg, void *val),
               void *arg)
{
    const ctld__ment_t *e;
    size_t i;

    for (i = 0; i < m->nb; i++)
        for (e = m->b[i]; e != NULL; e = e->next)
            fn(arg, e->val);
}

void
ctld__map_free(ctld__map_t *m)
{
    ctld__ment_t *e, *next;
    size_t i;

    for (i = 0; i < m->nb; i++) {
        for (e = m->b[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

/* ---- MQTT --------------------------------------------------------------- */

/*
 * on_msg: one message from a device, on the MQTT client's thread.  The
 * payload is size-checked and decoded before the core lock is taken, so
 * a flood of garbage costs no lock time.
 */
static void
on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    ctld_t *c = arg;
    char dev[VMF_ID_MAX], leaf[32];
    union {
        vmf_state_t state;
        vmf_result_t result;
        vmf_event_t event;
        vmf_chunk_req_t req;
        vmf_chunk_t chunk;
    } u;
    int rc = 0;

    if (vmf_topic_parse(m->topic, dev, sizeof(dev), leaf, sizeof(leaf)) !=
        0) {
        LOG_DEBUG("mqtt: ignoring a message on %s", m->topic);
        return;
    }
    if (m->len > VMF_MSG_MAX) {
        LOG_WARN("device %s: dropping a %zu-byte message on %s (over %u)",
                 dev, m->len, leaf, (unsigned)VMF_MSG_MAX);
        return;
    }
    if (strcmp(leaf, "state") == 0) {
        if ((rc = vmf_state_decode(m->payload, m->len, &u.state)) == 0) {
            pthread_mutex_lock(&c->lock);
            ctld__dev_on_state(c, dev, &u.state, ctld__now_ms());
            pthread_mutex_unlock(&c->lock);
            vmf_state_free(&u.state);
        }
    } else if (strcmp(leaf, "result") == 0) {
        if ((rc = vmf_result_decode(m->payload, m->len, &u.result)) == 0) {
            /* The payload carries the id; the correlation data too. */
            if (u.result.cmd_id[0] == '\0' && m->corr != NULL &&
                m->corr_len < sizeof(u.result.cmd_id)) {
                memcpy(u.result.cmd_id, m->corr, m->corr_len);
                u.result.cmd_id[m->corr_len] = '\0';
            }
            pthread_mutex_lock(&c->lock);
            ctld__cmd_on_result(c, dev, &u.result, ctld__now_ms());
            pthread_mutex_unlock(&c->lock);
            vmf_result_free(&u.result); /* a LOGS answer's text */
        }
    } else if (strcmp(leaf, "event") == 0) {
        if ((rc = vmf_event_decode(m->payload, m->len, &u.event)) == 0) {
            pthread_mutex_lock(&c->lock);
            ctld__cmd_on_event(c, dev, &u.event, ctld__now_ms());
            pthread_mutex_unlock(&c->lock);
        }
    } else if (strcmp(leaf, "xfer/req") == 0) {
        if ((rc = vmf_chunk_req_decode(m->payload, m->len, &u.req)) == 0) {
            pthread_mutex_lock(&c->lock);
            ctld__cmd_on_chunk_req(c, dev, &u.req, ctld__now_ms());
            pthread_mutex_unlock(&c->lock);
        }
    } else if (strcmp(leaf, "xfer/up") == 0) {
        if ((rc = vmf_chunk_decode(m->payload, m->len, &u.chunk)) == 0) {
            pthread_mutex_lock(&c->lock);
            ctld__cmd_on_upload(c, dev, &u.chunk, ctld__now_ms());
            pthread_mutex_unlock(&c->lock);
            vmf_chunk_free(&u.chunk);
        }
    } else {
        LOG_DEBUG("device %s: ignoring a message on %s", dev, leaf);
    }
    if (rc != 0)
        LOG_WARN("device %s: dropping a malformed message on %s (%d)", dev,
                 leaf, rc);
}

static void
on_conn(void *arg, bool connected, const char *why)
{
    ctld_t *c = arg;

    if (connected)
        LOG_INFO("mqtt: connected to %s as %s", c->cfg.mqtt_uri,
                 c->cfg.mqtt_client_id);
    else
        LOG_WARN("mqtt: connection to %s lost: %s", c->cfg.mqtt_uri,
                 why != NULL ? why : "?");
}

/* ---- ticker ------------------------------------------------------------- */

static void *
ticker_main(void *arg)
{
    ctld_t *c = arg;
    struct timespec ts;
    int64_t now;

    bool batch;

    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        now = ctld__now_ms();
        /* One transaction for the tick's many small writes (a rollout
         * step is a few hundred); without it, each is a commit. */
        batch = vmctld_reg_batch_begin(c->reg) == 0;
        ctld__cmds_tick(c, now);
        ctld__ros_tick(c, now);
        if (now - c->last_touch_ms >= 1000) {
            ctld__devs_flush_seen(c, now, false);
            c->last_touch_ms = now;
        }
        if (batch && vmctld_reg_batch_end(c->reg) != 0)
            LOG_ERR("registry: committing the tick: %s",
                    vmctld_reg_errmsg(c->reg));
        ts = ctld__mono_after(CTLD_TICK_MS);
        while (!c->stopping &&
               pthread_cond_timedwait(&c->tick_cond, &c->lock, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- life --------------------------------------------------------------- */

/* Read the trusted PEM keys named in the config; each must be a key. */
static int
load_keys(ctld_t *c, const vmctld_config_t *cfg, char *err, size_t errlen)
{
    char why[512], kid[VPK_KEY_ID_LEN + 1];
    size_t i;
    int rc;

    if (cfg->ntrusted_keys == 0)
        return 0;
    if ((c->keys = calloc(cfg->ntrusted_keys, sizeof(*c->keys))) == NULL)
        return ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
    for (i = 0; i < cfg->ntrusted_keys; i++) {
        rc = vmctld_store_read_file(cfg->trusted_keys[i], KEY_FILE_MAX,
                                    &c->keys[i], NULL, why, sizeof(why));
        if (rc != 0)
            return ctld__err(err, errlen, CTLD_EIO, "trust.keys: %s", why);
        c->nkeys++;
        if (vpk_key_id(c->keys[i], kid) != 0)
            return ctld__err(err, errlen, CTLD_EINVAL,
                             "trust.keys: %s: not a PEM EC P-256 key",
                             cfg->trusted_keys[i]);
        LOG_INFO("trusting package key %s (%s)", kid, cfg->trusted_keys[i]);
    }
    return 0;
}

static void
free_keys(ctld_t *c)
{
    size_t i;

    for (i = 0; i < c->nkeys; i++)
        free(c->keys[i]);
    free(c->keys);
    c->keys = NULL;
    c->nkeys = 0;
}

/* Everything ctld_create() builds, in reverse; also its failure path. */
static void
teardown(ctld_t *c)
{
    ctld__ros_free(c);
    ctld__cmds_free(c);
    ctld__devs_free(c);
    ctld__blobs_free(c);
    free_keys(c);
    vmctld_reg_close(c->rd);
    vmctld_reg_close(c->reg);
    vmctld_store_close(c->store);
    pthread_mutex_destroy(&c->rdlock);
    pthread_cond_destroy(&c->tick_cond);
    pthread_cond_destroy(&c->cmd_cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int
check_cfg(const vmctld_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->db_path[0] == '\0')
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "storage.db_path: not set");
    if (cfg->store_dir[0] == '\0')
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "storage.store_dir: not set");
    if (cfg->chunk_size == 0 || cfg->chunk_size > VMF_CHUNK_MAX)
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "rollouts.chunk_size: must be 1..%u, not %u",
                         (unsigned)VMF_CHUNK_MAX, cfg->chunk_size);
    if (cfg->cmd_expiry_s == 0 || cfg->cmd_timeout_s == 0 ||
        cfg->rollout_device_timeout_s == 0)
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "commands.expiry_s, commands.timeout_s and "
                         "rollouts.device_timeout_s must be at least 1");
    return 0;
}

int
ctld_create(const vmctld_config_t *cfg, ctld_t **out, char *err,
            size_t errlen)
{
    pthread_condattr_t ca;
    char why[512];
    ctld_t *c;
    int rc;

    if (cfg == NULL || out == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "no configuration");
    if ((rc = check_cfg(cfg, err, errlen)) != 0)
        return rc;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
    c->cfg = *cfg;
    /* The owned lists stay the caller's: keys are read now, tokens are
     * the API's business. */
    c->cfg.tokens = NULL;
    c->cfg.ntokens = 0;
    c->cfg.trusted_keys = NULL;
    c->cfg.ntrusted_keys = 0;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->rdlock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cmd_cond, &ca);
    pthread_cond_init(&c->tick_cond, &ca);
    pthread_condattr_destroy(&ca);

    if ((rc = vmctld_store_open(cfg->store_dir, &c->store, why,
                                sizeof(why))) != 0) {
        rc = ctld__err(err, errlen, CTLD_EIO, "%s", why);
        goto fail;
    }
    if ((rc = vmctld_reg_open(cfg->db_path, &c->reg, why, sizeof(why))) !=
        0) {
        rc = ctld__err(err, errlen, CTLD_EDB, "registry: %s", why);
        goto fail;
    }
    /* An in-memory database cannot be shared by a second connection. */
    if (strcmp(cfg->db_path, ":memory:") != 0 &&
        (rc = vmctld_reg_open(cfg->db_path, &c->rd, why, sizeof(why))) !=
            0) {
        rc = ctld__err(err, errlen, CTLD_EDB, "registry: %s", why);
        goto fail;
    }
    if ((rc = load_keys(c, cfg, err, errlen)) != 0 ||
        (rc = ctld__devs_load(c, err, errlen)) != 0 ||
        (rc = ctld__cmds_load(c, err, errlen)) != 0 ||
        (rc = ctld__ros_load(c, err, errlen)) != 0)
        goto fail;
    c->started_ms = ctld__now_ms();
    LOG_INFO("core: %zu devices, %zu unfinished commands, %zu rollouts "
             "running (registry %s, store %s)",
             c->devs.n, c->cmds.n, ctld__ros_active(c), cfg->db_path,
             cfg->store_dir);
    *out = c;
    return 0;
fail:
    teardown(c);
    return rc;
}

static const char *
opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The MQTT library's own lines (reconnect attempts, refusals) in our
 * log; "connected" is already logged by on_conn(). */
static void
mqtt_log(const char *line)
{
    if (strncmp(line, "connected", 9) == 0)
        LOG_DEBUG("mqtt: %s", line);
    else
        LOG_INFO("mqtt: %s", line);
}

int
ctld_start(ctld_t *c, char *err, size_t errlen)
{
    static const char *const leaves[] = {
        "state", "result", "event", "xfer/req", "xfer/up",
    };
    vmf_mqtt_config_t mc;
    vmf_mqtt_t *m = NULL;
    char filter[64], why[256];
    size_t i;
    int rc;

    if (c == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "no core");
    pthread_mutex_lock(&c->lock);
    m = c->mqtt;
    pthread_mutex_unlock(&c->lock);
    if (m != NULL)
        return ctld__err(err, errlen, CTLD_ESTATE, "already started");
    vmf_mqtt_set_log(mqtt_log);
    memset(&mc, 0, sizeof(mc));
    mc.uri = c->cfg.mqtt_uri;
    mc.client_id = c->cfg.mqtt_client_id;
    mc.username = opt(c->cfg.mqtt_username);
    mc.password = opt(c->cfg.mqtt_password);
    mc.ca_file = opt(c->cfg.mqtt_ca_file);
    mc.cert_file = opt(c->cfg.mqtt_cert_file);
    mc.key_file = opt(c->cfg.mqtt_key_file);
    mc.clean_start = false;
    mc.max_buffered = 65536;
    mc.max_inflight = 1024;
    why[0] = '\0';
    if ((rc = vmf_mqtt_create(&mc, on_msg, on_conn, c, &m, why,
                              sizeof(why))) != 0)
        return ctld__err(err, errlen, CTLD_EINVAL, "mqtt: %s",
                         why[0] != '\0' ? why : vmf_mqtt_strerror(rc));
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        snprintf(filter, sizeof(filter), VMF_TOPIC_PREFIX "+/%s", leaves[i]);
        if ((rc = vmf_mqtt_subscribe(m, filter, 1)) != 0)
            goto fail;
    }
    /* Set before the first message can arrive: callbacks publish. */
    pthread_mutex_lock(&c->lock);
    c->mqtt = m;
    pthread_mutex_unlock(&c->lock);
    if ((rc = vmf_mqtt_start(m)) != 0)
        goto fail;
    pthread_mutex_lock(&c->lock);
    c->stopping = false;
    rc = pthread_create(&c->ticker, NULL, ticker_main, c);
    c->ticker_on = rc == 0;
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        rc = VMF_MQTT_ENOMEM;
        goto fail;
    }
    LOG_INFO("core: connecting to %s", c->cfg.mqtt_uri);
    return 0;
fail:
    pthread_mutex_lock(&c->lock);
    c->mqtt = NULL;
    pthread_mutex_unlock(&c->lock);
    vmf_mqtt_destroy(m);
    return ctld__err(err, errlen, CTLD_EIO, "mqtt: %s",
                     vmf_mqtt_strerror(rc));
}

void
ctld_destroy(ctld_t *c)
{
    vmf_mqtt_t *m;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->tick_cond);
    pthread_cond_broadcast(&c->cmd_cond);
    pthread_mutex_unlock(&c->lock);
    if (c->ticker_on)
        pthread_join(c->ticker, NULL);
    c->ticker_on = false;
    pthread_mutex_lock(&c->lock);
    m = c->mqtt;
    pthread_mutex_unlock(&c->lock);
    if (m != NULL) {
        /* Let the last publishes (commands, chunks) reach the broker.
         * Neither this nor the destroy may hold the core lock: a
         * callback may be waiting for it.  Callbacks that run meanwhile
         * find c->mqtt NULL and publish nothing more. */
        vmf_mqtt_flush(m, 1000);
        pthread_mutex_lock(&c->lock);
        c->mqtt = NULL;
        pthread_mutex_unlock(&c->lock);
        vmf_mqtt_destroy(m);
    }
    pthread_mutex_lock(&c->lock);
    ctld__ros_save_all(c, ctld__now_ms());
    ctld__devs_flush_seen(c, ctld__now_ms(), true);
    pthread_mutex_unlock(&c->lock);
    LOG_INFO("core: stopped");
    teardown(c);
}

int
ctld_info(ctld_t *c, ctld_info_t *out)
{
    if (c == NULL || out == NULL)
        return CTLD_EINVAL;
    memset(out, 0, sizeof(*out));
    ctld__copy(out->version, sizeof(out->version), VMF_VERSION);
    pthread_mutex_lock(&c->lock);
    out->mqtt_connected = c->mqtt != NULL && vmf_mqtt_connected(c->mqtt);
    out->devices = c->devs.n;
    out->devices_online = c->online;
    out->rollouts_active = ctld__ros_active(c);
    out->commands_pending = c->cmds.n;
    out->started_ms = c->started_ms;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void
ctld_set_event_sink(ctld_t *c, void (*fn)(void *arg, const ctld_event_t *ev),
                    void *arg)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->sink = fn;
    c->sink_arg = fn != NULL ? arg : NULL;
    pthread_mutex_unlock(&c->lock);
}
