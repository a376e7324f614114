;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_vm guest: returns from _start at once (exit 0).
(module
  (memory 1)
  (func (export "_start")))
