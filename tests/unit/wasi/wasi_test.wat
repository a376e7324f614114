;; SPDX-License-Identifier: Apache-2.0
;; Copyright (c) 2026 the vmfleet authors
;;
;; test_wasi's guest: imports EVERY wasi_snapshot_preview1 function with its
;; preview1 signature (instantiation proves the host defines them all, typed
;; right) and exports a wasm wrapper "w_NAME" for each, so that the test calls
;; the host function from wasm code, with chosen pointers, as a guest would.
;; Memory is one page, exported.
(module
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get"
    (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_advise"
    (func $fd_advise (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate"
    (func $fd_allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_datasync"
    (func $fd_datasync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get"
    (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags"
    (func $fd_fdstat_set_flags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_rights"
    (func $fd_fdstat_set_rights (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get"
    (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times"
    (func $fd_filestat_set_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread"
    (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite"
    (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber"
    (func $fd_renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek"
    (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync"
    (func $fd_sync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell"
    (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32)
      (result i32)))
  (import "wasi_snapshot_preview1" "path_link"
    (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink"
    (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory"
    (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "proc_raise"
    (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield"
    (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv"
    (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send"
    (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown"
    (func $sock_shutdown (param i32 i32) (result i32)))
  (func (export "w_args_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $args_get)
  (func (export "w_args_sizes_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $args_sizes_get)
  (func (export "w_environ_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $environ_get)
  (func (export "w_environ_sizes_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $environ_sizes_get)
  (func (export "w_clock_res_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $clock_res_get)
  (func (export "w_clock_time_get") (param i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $clock_time_get)
  (func (export "w_fd_advise") (param i32 i64 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_advise)
  (func (export "w_fd_allocate") (param i32 i64 i64) (result i32)
    local.get 0 local.get 1 local.get 2 call $fd_allocate)
  (func (export "w_fd_close") (param i32) (result i32)
    local.get 0 call $fd_close)
  (func (export "w_fd_datasync") (param i32) (result i32)
    local.get 0 call $fd_datasync)
  (func (export "w_fd_fdstat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_fdstat_get)
  (func (export "w_fd_fdstat_set_flags") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_fdstat_set_flags)
  (func (export "w_fd_fdstat_set_rights") (param i32 i64 i64) (result i32)
    local.get 0 local.get 1 local.get 2 call $fd_fdstat_set_rights)
  (func (export "w_fd_filestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_filestat_get)
  (func (export "w_fd_filestat_set_size") (param i32 i64) (result i32)
    local.get 0 local.get 1 call $fd_filestat_set_size)
  (func (export "w_fd_filestat_set_times") (param i32 i64 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_filestat_set_times)
  (func (export "w_fd_pread") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $fd_pread)
  (func (export "w_fd_prestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_prestat_get)
  (func (export "w_fd_prestat_dir_name") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $fd_prestat_dir_name)
  (func (export "w_fd_pwrite") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $fd_pwrite)
  (func (export "w_fd_read") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_read)
  (func (export "w_fd_readdir") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 call $fd_readdir)
  (func (export "w_fd_renumber") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_renumber)
  (func (export "w_fd_seek") (param i32 i64 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_seek)
  (func (export "w_fd_sync") (param i32) (result i32)
    local.get 0 call $fd_sync)
  (func (export "w_fd_tell") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $fd_tell)
  (func (export "w_fd_write") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $fd_write)
  (func (export "w_path_create_directory") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $path_create_directory)
  (func (export "w_path_filestat_get") (param i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 call $path_filestat_get)
  (func (export "w_path_filestat_set_times") (param i32 i32 i32 i32 i64 i64 i32)
    (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 local.get 6 call $path_filestat_set_times)
  (func (export "w_path_link") (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 local.get 6 call $path_link)
  (func (export "w_path_open") (param i32 i32 i32 i32 i32 i64 i64 i32 i32)
    (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 local.get 6 local.get 7
    local.get 8 call $path_open)
  (func (export "w_path_readlink") (param i32 i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 call $path_readlink)
  (func (export "w_path_remove_directory") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $path_remove_directory)
  (func (export "w_path_rename") (param i32 i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 call $path_rename)
  (func (export "w_path_symlink") (param i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 call $path_symlink)
  (func (export "w_path_unlink_file") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $path_unlink_file)
  (func (export "w_poll_oneoff") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $poll_oneoff)
  (func (export "w_proc_exit") (param i32)
    local.get 0 call $proc_exit)
  (func (export "w_proc_raise") (param i32) (result i32)
    local.get 0 call $proc_raise)
  (func (export "w_sched_yield") (result i32)
    call $sched_yield)
  (func (export "w_random_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $random_get)
  (func (export "w_sock_accept") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 call $sock_accept)
  (func (export "w_sock_recv") (param i32 i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3
    local.get 4 local.get 5 call $sock_recv)
  (func (export "w_sock_send") (param i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $sock_send)
  (func (export "w_sock_shutdown") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $sock_shutdown)
  (memory (export "memory") 1)
)
