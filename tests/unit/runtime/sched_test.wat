;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;;
;; Guest of test_sched.c and bench/runtime: loops that make progress the
;; host can count (t.tick), sleep (t.sleep), wait on a queue (t.wait) or
;; start green threads (t.spawn).
(module
  (import "t" "tick" (func $tick (param i32)))
  (import "t" "sleep" (func $sleep (param i32)))
  (import "t" "wait" (func $wait (param i32 i32) (result i32)))
  (import "t" "spawn" (func $spawn (param i32)))
  (import "t" "yield" (func $yield))
  (memory 1)
  (table 1 funcref)
  (elem (i32.const 0) $irq_handler)

  ;; Interrupt handler (table element 0): tick(arg).
  (func $irq_handler (param $irq i32) (param $arg i32)
    (call $tick (local.get $arg)))
  (global $sp (export "__stack_pointer") (mut i32) (i32.const 4096))

  ;; Forever: 1000 iterations of busy work, then tick(id).
  (func (export "spin") (param $id i32)
    (local $i i32)
    (loop $outer
      (local.set $i (i32.const 1000))
      (loop $inner
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $inner (local.get $i)))
      (call $tick (local.get $id))
      (br $outer)))

  ;; Busy work only: $n outer rounds of 1000 iterations, then return.
  (func (export "work") (param $n i32)
    (local $i i32)
    (loop $outer
      (local.set $i (i32.const 1000))
      (loop $inner
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $inner (local.get $i)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $outer (local.get $n))))

  ;; Forever: sleep $us microseconds.
  (func (export "sleeper") (param $us i32)
    (loop $l
      (call $sleep (local.get $us))
      (br $l)))

  ;; Forever: yield to the other VM (a vOS-style yield: block, woken).
  (func (export "yielder") (param $id i32)
    (loop $l
      (call $yield)
      (call $tick (local.get $id))
      (br $l)))

  ;; Wait once on the host's queue (id in the low byte, timeout ms above),
  ;; then tick with the wake reason.
  (func (export "waiter") (param $arg i32)
    (call $tick
      (call $wait (i32.and (local.get $arg) (i32.const 255))
                  (i32.shr_u (local.get $arg) (i32.const 8)))))

  ;; A green thread: starts with the stack top its spawner gave
  ;; (10000 + id * 1000), and keeps its own __stack_pointer across sleeps.
  (func (export "thr") (param $id i32)
    (local $n i32)
    (if (i32.ne (global.get $sp)
                (i32.add (i32.const 10000)
                         (i32.mul (local.get $id) (i32.const 1000))))
      (then unreachable))
    (local.set $n (i32.const 20))
    (loop $l
      (global.set $sp (i32.add (i32.const 50000) (local.get $id)))
      (call $sleep (i32.const 200))
      (if (i32.ne (global.get $sp) (i32.add (i32.const 50000) (local.get $id)))
        (then unreachable))
      (call $tick (local.get $id))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))

  ;; Main of the green-thread test: spawn threads 1 and 2, then do the
  ;; same stack-pointer check for longer than they live.
  (func (export "threads_main") (param $unused i32)
    (local $n i32)
    (call $spawn (i32.const 1))
    (call $spawn (i32.const 2))
    (local.set $n (i32.const 60))
    (loop $l
      (global.set $sp (i32.const 50000))
      (call $sleep (i32.const 200))
      (if (i32.ne (global.get $sp) (i32.const 50000))
        (then unreachable))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))

  ;; Main that spawns a thread that traps (id 9), then spins.
  (func (export "spawn_trap") (param $unused i32)
    (call $spawn (i32.const 9))
    (loop $l
      (call $tick (i32.const 0))
      (br $l)))

  ;; Traps at once (a non-main thread trapping ends the VM).
  (func (export "trap") (param $id i32)
    unreachable))
