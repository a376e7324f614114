;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;;
;; The snapshot benchmark's guest: touch($pages) grows memory to $pages
;; 64 KiB pages, writes pseudo-random bytes to all of it (so no page is
;; left zero and no size trick applies), then spins forever, so that the
;; benchmark snapshots a run that has yielded in the middle of a loop.
(module
  (memory (export "memory") 1)
  (global $touched (mut i32) (i32.const 0))
  (func (export "touch") (param $pages i32)
    (local $i i32) (local $end i32) (local $x i64)
    (if (i32.gt_u (local.get $pages) (i32.const 1))
      (then
        (drop (memory.grow (i32.sub (local.get $pages) (i32.const 1))))))
    (local.set $end (i32.shl (memory.size) (i32.const 16)))
    (local.set $x (i64.const 0x9e3779b97f4a7c15))
    (block $done
      (loop $fill
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (i64.store (local.get $i) (local.get $x))
        (local.set $x
          (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005))
                   (i64.const 1442695040888963407)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $fill)))
    (global.set $touched (i32.const 1))
    (loop $spin
      (global.set $touched (i32.add (global.get $touched) (i32.const 1)))
      (br $spin))))
