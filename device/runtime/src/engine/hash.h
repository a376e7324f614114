/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_HASH_H
#define VMRT_ENGINE_HASH_H

/*
 * The engine's two hashes: SHA-256 names a module (snapshots carry it to
 * refuse a restore into another module) and XXH64 checks a snapshot's
 * integrity.  Both follow their public specifications (FIPS 180-4; the
 * xxHash specification, XXH64) and give the same result on every host.
 */

#include <stddef.h>
#include <stdint.h>

/** SHA-256 of `len` bytes at `data` into out[0..32). */
void vmrt__sha256(const void *data, size_t len, uint8_t out[32]);

/** XXH64 of `len` bytes at `data` with `seed`. */
uint64_t vmrt__xxh64(const void *data, size_t len, uint64_t seed);

#endif /* VMRT_ENGINE_HASH_H */
