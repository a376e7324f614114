;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;;
;; The guest of test_snapshot: loops, deep recursion, funcrefs in locals,
;; operand temporaries, tables and globals, and a blocking host call, all
;; leaving their traces in memory so that a resumed run can be compared
;; with an uninterrupted one.
(module
  (type $ii (func (param i32) (result i32)))
  (import "host" "slow" (func $slow (param i32) (result i32)))
  (memory (export "memory") 1 32)
  (table $t 4 8 funcref)
  (elem (table $t) (i32.const 0) func $dbl $inc)
  (elem $passive func $inc $dbl)
  (data $pd "passive")
  (global $gf (mut funcref) (ref.null func))
  (global $cnt (mut i64) (i64.const 0))
  (global $k i32 (i32.const 7))
  (global $kf funcref (ref.func $inc))

  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))

  ;; Spends fuel in a loop; returns n & 1.
  (func $burn (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.and (local.get $n)
                                                        (i32.const 15))))
        (global.set $cnt (i64.add (global.get $cnt) (i64.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.and (local.get $n) (i32.const 1)))

  ;; A loop writing a pattern; returns a checksum.
  (func (export "loop") (param $n i32) (result i64)
    (local $i i32) (local $h i64)
    (loop $l
      (i32.store (i32.mul (local.get $i) (i32.const 4))
                 (i32.mul (local.get $i) (local.get $i)))
      (local.set $h (i64.add (i64.mul (local.get $h) (i64.const 31))
                             (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $h))

  ;; Deep recursion with a memory write per level.
  (func $rec (export "rec") (param $d i32) (result i64)
    (if (result i64) (i32.eqz (local.get $d))
      (then (i64.const 1))
      (else
        (i64.store (i32.add (i32.const 4096) (i32.mul (local.get $d)
                                                       (i32.const 8)))
                   (i64.extend_i32_u (local.get $d)))
        (i64.add
          (i64.mul (call $rec (i32.sub (local.get $d) (i32.const 1)))
                   (i64.const 31))
          (i64.load (i32.add (i32.const 4096)
                             (i32.mul (local.get $d) (i32.const 8))))))))

  ;; Calls fi (a funcref parameter) through table slot 3.
  (func $apply (param $f funcref) (param $x i32) (result i32)
    (drop (call $burn (local.get $x)))
    (table.set $t (i32.const 3) (local.get $f))
    (call_indirect $t (type $ii) (local.get $x) (i32.const 3)))

  ;; Funcrefs in a local, an operand temporary across a call, the table
  ;; and a global, while fuel runs out anywhere.
  (func (export "refs") (param $n i32) (result i32)
    (local $f funcref) (local $i i32) (local $acc i32)
    (local.set $acc (i32.const 1))
    (loop $l
      (local.set $f
        (select (result funcref) (ref.func $dbl) (ref.func $inc)
                (call $burn (local.get $i))))
      (global.set $gf (local.get $f))
      (table.set $t (i32.const 2) (global.get $gf))
      (local.set $acc (i32.and (call_indirect $t (type $ii)
                                 (local.get $acc) (i32.const 2))
                               (i32.const 0xffff)))
      (local.set $acc (call $apply (local.get $f) (local.get $acc)))
      (i32.store (i32.add (i32.const 8192) (i32.mul (local.get $i)
                                                     (i32.const 4)))
                 (local.get $acc))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (i32.add (local.get $acc) (global.get $k)))

  ;; Calls the blocking host function n times.
  (func (export "host") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc)
                               (call $slow (local.get $i))))
      (i32.store (i32.add (i32.const 12288) (i32.mul (local.get $i)
                                                      (i32.const 4)))
                 (local.get $acc))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $acc))

  ;; Grows memory to 17 pages and writes every 4 KiB chunk of the first
  ;; `kib` KiB, so that a snapshot must store them.
  (func (export "touch") (param $kib i32) (result i32)
    (local $a i32)
    (drop (memory.grow (i32.sub (i32.const 17) (memory.size))))
    (loop $l
      (i64.store (local.get $a) (i64.const 0x0102030405060708))
      (local.set $a (i32.add (local.get $a) (i32.const 1024)))
      (br_if $l (i32.lt_u (local.get $a)
                          (i32.mul (local.get $kib) (i32.const 1024)))))
    (memory.size))

  ;; Segment state: drops the passive segments, uses the table.
  (func (export "segs") (result i32)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 2))
    (elem.drop $passive)
    (memory.init $pd (i32.const 16000) (i32.const 0) (i32.const 7))
    (data.drop $pd)
    (call_indirect $t (type $ii) (i32.const 20) (i32.const 3)))
)
