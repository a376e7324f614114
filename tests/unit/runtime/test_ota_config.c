/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The device config's "ota" section (vmrt_config_load): a full section
 * fills vmrt_ota_config_t with paths resolved against the config file's
 * directory; defaults apply to what it omits; every bad key is refused
 * with an error naming it (and, where it can be found, its line).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

typedef struct {
    char dir[128];
    char path[192];
} fx_t;

static void
write_file(const char *path, const char *text)
{
    assert_int_equal(pl_file_write_atomic(path, text, strlen(text)), 0);
}

static int
setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    char p[256];

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ota_config.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(fx->dir), 0);
    snprintf(p, sizeof(p), "%s/keys", fx->dir);
    assert_int_equal(pl_fs_mkdir_p(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/keys/fleet.pub", fx->dir);
    write_file(p, "-----BEGIN PUBLIC KEY-----\n");
    snprintf(p, sizeof(p), "%s/ca.pem", fx->dir);
    write_file(p, "-----BEGIN CERTIFICATE-----\n");
    snprintf(fx->path, sizeof(fx->path), "%s/device.json", fx->dir);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    pl_fs_remove_tree(fx->dir);
    free(fx);
    return 0;
}

/* Load `text` as the config; return the status, the error in err. */
static int
load(fx_t *fx, const char *text, vmrt_rt_config_t *cfg, char *err,
     size_t errlen)
{
    write_file(fx->path, text);
    err[0] = '\0';
    return vmrt_config_load(fx->path, cfg, NULL, NULL, err, errlen);
}

static void
test_ota_config_full_section(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_config_t cfg;
    char err[512], want[256];

    assert_int_equal(
        load(fx,
             "{\n"
             "  \"workers\": 2,\n"
             "  \"ota\": {\n"
             "    \"exec\": \"bin/fake-ota\",\n"
             "    \"device_id\": \"dev-01.lab_2\",\n"
             "    \"broker\": \"tcp://127.0.0.1:1883\",\n"
             "    \"trusted_keys\": [\"keys/fleet.pub\", \"ca.pem\"],\n"
             "    \"allow_create\": true,\n"
             "    \"health_window_ms\": 5000,\n"
             "    \"window\": 16,\n"
             "    \"max_package\": 1048576,\n"
             "    \"labels\": {\"site\": \"lab\", \"rack\": \"r 7\"},\n"
             "    \"tls\": {\"ca\": \"ca.pem\"},\n"
             "    \"args\": [\"--verbose\", \"-x\"]\n"
             "  }\n"
             "}\n",
             &cfg, err, sizeof(err)),
        0);
    assert_true(cfg.ota.enabled);
    snprintf(want, sizeof(want), "%s/bin/fake-ota", fx->dir);
    assert_string_equal(cfg.ota.exec, want);
    assert_string_equal(cfg.ota.device_id, "dev-01.lab_2");
    assert_string_equal(cfg.ota.broker, "tcp://127.0.0.1:1883");
    assert_int_equal(cfg.ota.ntrusted_keys, 2);
    snprintf(want, sizeof(want), "%s/keys/fleet.pub", fx->dir);
    assert_string_equal(cfg.ota.trusted_keys[0], want);
    snprintf(want, sizeof(want), "%s/ca.pem", fx->dir);
    assert_string_equal(cfg.ota.trusted_keys[1], want);
    assert_string_equal(cfg.ota.tls_ca, want);
    assert_string_equal(cfg.ota.tls_cert, "");
    assert_true(cfg.ota.allow_create);
    assert_int_equal(cfg.ota.health_window_ms, 5000);
    assert_int_equal(cfg.ota.window, 16);
    assert_int_equal(cfg.ota.max_package, 1048576);
    assert_int_equal(cfg.ota.nlabels, 2);
    assert_string_equal(cfg.ota.labels[0].key, "site");
    assert_string_equal(cfg.ota.labels[0].value, "lab");
    assert_string_equal(cfg.ota.labels[1].key, "rack");
    assert_string_equal(cfg.ota.labels[1].value, "r 7");
    assert_int_equal(cfg.ota.nargs, 2);
    assert_string_equal(cfg.ota.args[0], "--verbose");
    assert_string_equal(cfg.ota.args[1], "-x");
}

static void
test_ota_config_defaults_and_absent(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_config_t cfg;
    char err[512];

    assert_int_equal(load(fx, "{\"workers\": 1}\n", &cfg, err, sizeof(err)),
                     0);
    assert_false(cfg.ota.enabled);
    assert_int_equal(
        load(fx,
             "{\"ota\": {\"device_id\": \"d\", \"broker\": \"ssl://b:8883\","
             " \"trusted_keys\": [\"keys/fleet.pub\"]}}\n",
             &cfg, err, sizeof(err)),
        0);
    assert_true(cfg.ota.enabled);
    /* A bare name stays bare: the daemon looks it up. */
    assert_string_equal(cfg.ota.exec, "vmrt-ota");
    assert_false(cfg.ota.allow_create);
    assert_int_equal(cfg.ota.health_window_ms, 10000);
    assert_int_equal(cfg.ota.window, 8);
    assert_int_equal(cfg.ota.max_package, 16u * 1024 * 1024);
    assert_int_equal(cfg.ota.nlabels, 0);
    assert_int_equal(cfg.ota.nargs, 0);
}

/* Each case: an ota section (spliced into a config whose "ota" key is on
 * line 3) and a substring the error must contain. */
static const struct {
    const char *ota;
    const char *want;
} bad[] = {
    { "{\"broker\": \"tcp://b:1\", \"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.device_id: missing" },
    { "{\"device_id\": \"dev/01\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"]}",
      ":3: ota.device_id: 'dev/01' is not a device id" },
    { "{\"device_id\": \"\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.device_id: '' is not a device id" },
    { "{\"device_id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaa\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.device_id: longer than 63 characters" },
    { "{\"device_id\": \"d\", \"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.broker: missing" },
    { "{\"device_id\": \"d\", \"broker\": \"http://b\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.broker: 'http://b' is not a broker URI" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\"}",
      "ota.trusted_keys: missing" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": []}",
      "ota.trusted_keys: missing" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/nope.pub\"]}",
      ":3: ota.trusted_keys[0]: " },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": \"keys/fleet.pub\"}",
      "ota.trusted_keys: must be an array" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"colour\": 1}",
      ":3: ota.colour: unknown key" },
    { "{\"device_id\": 7, \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"]}",
      "ota.device_id: must be a string" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"allow_create\": \"yes\"}",
      "ota.allow_create: must be true or false" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"window\": 0}",
      "ota.window: must be an integer 1..256" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"health_window_ms\": \"5\"}",
      "ota.health_window_ms: must be a number" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"max_package\": 1.5}",
      "ota.max_package: must be an integer" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"labels\": [\"a\"]}",
      "ota.labels: must be an object" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"labels\": {\"a=b\": \"c\"}}",
      "ota.labels.a=b: a label name" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"labels\": {\"site\": 1}}",
      "ota.labels.site: must be a string" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"tls\": {\"cert\": "
      "\"ca.pem\", \"ca\": \"ca.pem\"}}",
      "ota.tls.key: missing" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"tls\": {\"ca\": \"x.pem\"}}",
      "ota.tls.ca: " },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"tls\": {\"crl\": \"a\"}}",
      "ota.tls.crl: unknown key" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"args\": [1]}",
      "ota.args[0]: must be a string" },
    { "{\"device_id\": \"d\", \"broker\": \"tcp://b:1\", "
      "\"trusted_keys\": [\"keys/fleet.pub\"], \"exec\": \"\"}",
      "ota.exec: must not be empty" },
    { "[1, 2]", ":3: ota: must be an object" },
};

static void
test_ota_config_errors_name_the_key(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_config_t cfg;
    char text[1024], err[512];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\n  \"workers\": 1,\n  \"ota\": %s\n}\n", bad[i].ota);
        assert_int_equal(load(fx, text, &cfg, err, sizeof(err)),
                         VMRT_EINVAL);
        if (strstr(err, bad[i].want) == NULL)
            fail_msg("case %zu: error '%s' lacks '%s'", i, err,
                     bad[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ota_config_full_section, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ota_config_defaults_and_absent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ota_config_errors_name_the_key,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
