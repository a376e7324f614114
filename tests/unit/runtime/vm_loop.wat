;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_vm guest: counts forever in memory[0] (a "counter" VM).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $l
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (br $l))))
