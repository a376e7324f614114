;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;;
;; test_dev_e2e's guest: turns led0 on, says "ok" on uart0, waits for
;; bytes on uart0 and echoes them back, then returns (exit 0).
(module
  (import "vos" "dev_open" (func $open (param i32 i32) (result i32)))
  (import "vos" "dev_write" (func $write (param i32 i32 i32) (result i32)))
  (import "vos" "dev_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "led0")
  (data (i32.const 8) "uart0")
  (data (i32.const 16) "\01")
  (data (i32.const 24) "ok")
  (func (export "_start")
    (local $led i32) (local $u i32) (local $n i32)
    (local.set $led (call $open (i32.const 0) (i32.const 4)))
    (local.set $u (call $open (i32.const 8) (i32.const 5)))
    (drop (call $write (local.get $led) (i32.const 16) (i32.const 1)))
    (drop (call $write (local.get $u) (i32.const 24) (i32.const 2)))
    ;; VOS_FOREVER: gives up the worker until the control API injects.
    (local.set $n (call $read (local.get $u) (i32.const 64) (i32.const 16)
                              (i32.const -1)))
    (drop (call $write (local.get $u) (i32.const 64) (local.get $n)))))
