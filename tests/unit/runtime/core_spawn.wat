;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_core guest: _start spins until 40 green threads ran "work" (func 1),
;; then checks the sum of their arguments (1..20 twice = 420): exit 0, or
;; trap if a spawn was lost or doubled.  __stack_pointer is a dummy, so the
;; scheduler's per-thread swap of it leaves the counters alone.
(module
  (memory 1)
  (global $sp (export "__stack_pointer") (mut i32) (i32.const 4096))
  (global $n (mut i32) (i32.const 0))
  (global $sum (mut i32) (i32.const 0))
  (func (export "_start")
    (loop $l
      (br_if $l (i32.lt_u (global.get $n) (i32.const 40))))
    (if (i32.ne (global.get $sum) (i32.const 420))
      (then unreachable)))
  (func $work (export "work") (param i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.set $sum (i32.add (global.get $sum) (local.get 0)))))
