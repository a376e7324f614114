/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fleet: the protocol's names (codes, commands, events), its topics and
 * the chunk checksum.  The message codecs are in fleet_pb.c, the only
 * file that sees protobuf-c.  Everything here is pure and thread-safe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vmf/fleet.h"

/* ---- codes and names ---------------------------------------------- */

static const struct {
    const char *name;
    const char *text;
} code_table[VMF_CODE_MAX_] = {
#define VMF_CODE_ROW_(name, val, text) [val] = { #name, text },
    VMF_CODE_MAP(VMF_CODE_ROW_)
#undef VMF_CODE_ROW_
};

/* Lower-case names, as vmctl and the logs spell them. */
static const char *const cmd_names[VMF_CMD_MAX_] = {
    [VMF_CMD_NONE] = "none",         [VMF_CMD_CREATE] = "create",
    [VMF_CMD_START] = "start",       [VMF_CMD_STOP] = "stop",
    [VMF_CMD_SUSPEND] = "suspend",   [VMF_CMD_RESUME] = "resume",
    [VMF_CMD_RESTART] = "restart",   [VMF_CMD_DESTROY] = "destroy",
    [VMF_CMD_SNAPSHOT] = "snapshot", [VMF_CMD_RESTORE] = "restore",
    [VMF_CMD_UPDATE] = "update",     [VMF_CMD_CANCEL] = "cancel",
    [VMF_CMD_INVENTORY] = "inventory", [VMF_CMD_LOGS] = "logs",
};

static const char *const event_names[VMF_EV_MAX_] = {
    [VMF_EV_NONE] = "none",         [VMF_EV_STATE] = "state",
    [VMF_EV_CRASH] = "crash",       [VMF_EV_RESTART] = "restart",
    [VMF_EV_WATCHDOG] = "watchdog", [VMF_EV_ROLLBACK] = "rollback",
    [VMF_EV_PROGRESS] = "progress", [VMF_EV_COMMIT] = "commit",
};

/*
 * name_eq: ASCII case-insensitive comparison, so that "e_downgrade" and
 * "UPDATE" typed at a prompt parse too.
 * Return: true if a and b are equal ignoring case.
 */
static bool
name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return false;
        if (ca == '\0')
            return true;
    }
}

const char *
vmf_code_str(int code)
{
    if (code < 0 || code >= VMF_CODE_MAX_ || code_table[code].text == NULL)
        return "unknown result code";
    return code_table[code].text;
}

const char *
vmf_code_name(int code)
{
    if (code < 0 || code >= VMF_CODE_MAX_ || code_table[code].name == NULL)
        return "?";
    return code_table[code].name;
}

int
vmf_code_parse(const char *name)
{
    int i;

    if (name == NULL)
        return -1;
    for (i = 0; i < VMF_CODE_MAX_; i++)
        if (code_table[i].name != NULL && name_eq(name, code_table[i].name))
            return i;
    return -1;
}

const char *
vmf_cmd_name(int kind)
{
    if (kind < 0 || kind >= VMF_CMD_MAX_ || cmd_names[kind] == NULL)
        return "?";
    return cmd_names[kind];
}

int
vmf_cmd_parse(const char *name)
{
    int i;

    if (name == NULL)
        return -1;
    for (i = 0; i < VMF_CMD_MAX_; i++)
        if (cmd_names[i] != NULL && name_eq(name, cmd_names[i]))
            return i;
    return -1;
}

const char *
vmf_event_name(int kind)
{
    if (kind < 0 || kind >= VMF_EV_MAX_ || event_names[kind] == NULL)
        return "?";
    return event_names[kind];
}

/* ---- topics ------------------------------------------------------- */

static bool
id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool
vmf_device_id_valid(const char *id)
{
    size_t n;

    if (id == NULL || id[0] == '\0')
        return false;
    for (n = 0; id[n] != '\0'; n++)
        if (n >= VMF_ID_MAX - 1 || !id_char(id[n]))
            return false;
    return true;
}

/*
 * leaf_valid: a leaf is one or more '/'-separated levels of [a-z0-9_-]
 * ("cmd", "xfer/data"): never empty levels, never MQTT wildcards.
 * Return: true if leaf[0..n) is such a leaf.
 */
static bool
leaf_valid(const char *leaf, size_t n)
{
    size_t i;

    if (n == 0 || leaf[0] == '/' || leaf[n - 1] == '/')
        return false;
    for (i = 0; i < n; i++) {
        char c = leaf[i];

        if (c == '/') {
            if (leaf[i + 1] == '/')
                return false;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int
vmf_topic(char *buf, size_t cap, const char *device, const char *leaf)
{
    int n;

    if (buf == NULL || cap == 0)
        return VMF_FLEET_EINVAL;
    buf[0] = '\0';
    if (!vmf_device_id_valid(device) || leaf == NULL ||
        !leaf_valid(leaf, strlen(leaf)))
        return VMF_FLEET_EINVAL;
    n = snprintf(buf, cap, "%s%s/%s", VMF_TOPIC_PREFIX, device, leaf);
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return VMF_FLEET_EINVAL;
    }
    return 0;
}

int
vmf_topic_parse(const char *topic, char *device, size_t dcap, char *leaf,
                size_t lcap)
{
    const size_t plen = sizeof(VMF_TOPIC_PREFIX) - 1;
    const char *dev, *slash, *lf;
    size_t dlen, llen;

    if (device != NULL && dcap > 0)
        device[0] = '\0';
    if (leaf != NULL && lcap > 0)
        leaf[0] = '\0';
    if (topic == NULL || device == NULL || leaf == NULL ||
        strncmp(topic, VMF_TOPIC_PREFIX, plen) != 0)
        return VMF_FLEET_EINVAL;
    dev = topic + plen;
    if ((slash = strchr(dev, '/')) == NULL)
        return VMF_FLEET_EINVAL;
    dlen = (size_t)(slash - dev);
    lf = slash + 1;
    llen = strlen(lf);
    if (dlen == 0 || dlen >= VMF_ID_MAX || dlen >= dcap || llen >= lcap ||
        !leaf_valid(lf, llen))
        return VMF_FLEET_EINVAL;
    memcpy(device, dev, dlen);
    device[dlen] = '\0';
    if (!vmf_device_id_valid(device)) {
        device[0] = '\0';
        return VMF_FLEET_EINVAL;
    }
    memcpy(leaf, lf, llen + 1);
    return 0;
}

/* ---- CRC-32 ------------------------------------------------------- */

/* The reflected IEEE 802.3 polynomial 0xedb88320, as zlib's crc32(). */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau,
    0x076dc419u, 0x706af48fu, 0xe963a535u, 0x9e6495a3u,
    0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u,
    0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu,
    0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u,
    0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu,
    0x35b5a8fau, 0x42b2986cu, 0xdbbbc9d6u, 0xacbcf940u,
    0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u,
    0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du,
    0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au,
    0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u,
    0x7f6a0dbbu, 0x086d3d2du, 0x91646c97u, 0xe6635c01u,
    0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u,
    0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau, 0xfcb9887cu,
    0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u,
    0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu,
    0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u,
    0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u,
    0x59b33d17u, 0x2eb40d81u, 0xb7bd5c3bu, 0xc0ba6cadu,
    0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u,
    0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu,
    0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u,
    0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u,
    0xd6d6a3e8u, 0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u,
    0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u,
    0xdf60efc3u, 0xa867df55u, 0x316e8eefu, 0x4669be79u,
    0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu,
    0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u,
    0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u,
    0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u,
    0x86d3d2d4u, 0xf1d4e242u, 0x68ddb3f8u, 0x1fda836eu,
    0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu,
    0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu,
    0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u,
    0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u,
    0xbad03605u, 0xcdd70693u, 0x54de5729u, 0x23d967bfu,
    0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t
vmf_crc32(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = 0xffffffffu;

    while (len-- > 0)
        c = crc_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}
