;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_swap guest "a": logs "fresh a" once per fresh start, then
;; "tick a" every 20 ms.  A VM restored from a snapshot resumes in the
;; loop, so it logs no new "fresh a".
(module
  (import "vos" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "vos" "sleep_us" (func $sleep (param i64) (result i32)))
  
  (memory (export "memory") 1)
  (data (i32.const 16) "fresh a")
  (data (i32.const 32) "tick a")
  (func (export "_start")
    
    (drop (call $log (i32.const 6) (i32.const 16) (i32.const 7)))
    (loop $l
      (drop (call $log (i32.const 6) (i32.const 32) (i32.const 6)))
      (drop (call $sleep (i64.const 20000)))
      (br $l))))
