;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; Guest of test_threads.c: threads sharing memory, blocking, identity.
(module
  (import "env" "wait" (func $wait (param i32) (result i32)))
  (import "env" "who" (func $who (result i32)))
  (memory (export "memory") 1 4)
  (global $sp (export "sp") (mut i32) (i32.const 1024))
  (global $k (export "k") i32 (i32.const 7))
  (global $g64 (export "g64") (mut i64) (i64.const 0))
  (global $gf (export "gf") (mut funcref) (ref.null func))
  (table (export "table") 6 funcref)
  (elem (i32.const 0) $add $count $nores $wrongty $wait)

  ;; Add 1 to the i32 at $addr, $n times, then return $n.
  (func $count (export "count") (param $addr i32) (param $n i32) (result i32)
    (local $i i32)
    (block $out
      (loop $l
        (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store (local.get $addr)
                   (i32.add (i32.load (local.get $addr)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $n))

  (func $add (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func $nores (param i32)
    (i32.store (i32.const 64) (local.get 0)))
  (func $wrongty (param i64) (result i32) (i32.const 0))

  ;; Block in the host until it opens, then add 1 and a counted loop.
  (func (export "waitx") (param $x i32) (result i32)
    (i32.add (call $wait (local.get $x))
             (call $count (i32.const 128) (i32.const 50))))

  (func (export "who") (result i32) (call $who))
)
