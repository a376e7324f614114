;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_vm guest: no _start export.
(module
  (memory 1)
  (func (export "main")))
