;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;; test_vm guest: traps at once (a crash loop under on-failure).
(module
  (memory 1)
  (func (export "_start") unreachable))
