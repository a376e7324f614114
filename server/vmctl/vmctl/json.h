/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_JSON_H
#define VMCTL_JSON_H

/*
 * vmctl's JSON (json.c, the only file that includes cJSON): read the
 * API's replies and build request bodies.  A vmctl_json_t is a node of a
 * document; every node is owned by the document's root, which the caller
 * frees with vmctl_json_free().  Getters take NULL and return "missing".
 * Single-threaded, like all of vmctl.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vmctl_json vmctl_json_t;

/**
 * Parse `len` bytes (need not be NUL-terminated).
 * @return the root (the caller owns it), or NULL if it is not JSON.
 */
vmctl_json_t *vmctl_json_parse(const char *buf, size_t len);

/** Free a root and all its nodes.  NULL is a no-op. */
void vmctl_json_free(vmctl_json_t *root);

/** @return the member `key` of an object (borrowed), or NULL. */
const vmctl_json_t *vmctl_json_get(const vmctl_json_t *obj, const char *key);

/** @return the string member `key` (borrowed), or NULL if it is missing
 *  or not a string. */
const char *vmctl_json_str(const vmctl_json_t *obj, const char *key);

/** The number member `key`. @return true and *out, or false. */
bool vmctl_json_num(const vmctl_json_t *obj, const char *key, double *out);

/** The number member `key` as an integer. @return true and *out. */
bool vmctl_json_int(const vmctl_json_t *obj, const char *key, int64_t *out);

/** The boolean member `key`. @return true and *out, or false. */
bool vmctl_json_bool(const vmctl_json_t *obj, const char *key, bool *out);

/** @return the number of elements of an array or members of an object,
 *  0 for anything else. */
size_t vmctl_json_len(const vmctl_json_t *v);

/**
 * Element `i` of an array or member `i` of an object (borrowed).
 * @param key if not NULL, receives the member's name (borrowed).
 */
const vmctl_json_t *vmctl_json_at(const vmctl_json_t *v, size_t i,
                                  const char **key);

/** @return whether v is an object / an array. */
bool vmctl_json_is_object(const vmctl_json_t *v);
bool vmctl_json_is_array(const vmctl_json_t *v);

/**
 * A scalar as text for a table: a string as it is, a number in its
 * shortest form, true/false; `dflt` for a missing value or null.
 * @return buf.
 */
const char *vmctl_json_text(const vmctl_json_t *v, const char *dflt,
                            char *buf, size_t len);

/* ---- building ------------------------------------------------------- */

/** @return a new empty object (the caller owns it), or NULL. */
vmctl_json_t *vmctl_json_object(void);

/** Add a member to `obj`.  @return 0, or -1 (out of memory). */
int vmctl_json_add_str(vmctl_json_t *obj, const char *key, const char *v);
int vmctl_json_add_num(vmctl_json_t *obj, const char *key, double v);
int vmctl_json_add_bool(vmctl_json_t *obj, const char *key, bool v);

/** Add an empty object / array member.  @return it (owned by obj), or
 *  NULL. */
vmctl_json_t *vmctl_json_add_object(vmctl_json_t *obj, const char *key);
vmctl_json_t *vmctl_json_add_array(vmctl_json_t *obj, const char *key);

/** Append a string to an array. @return 0 or -1. */
int vmctl_json_push_str(vmctl_json_t *arr, const char *v);

/** @return v as compact JSON (malloc()ed; the caller frees it), or
 *  NULL. */
char *vmctl_json_print(const vmctl_json_t *v);

#endif /* VMCTL_JSON_H */
