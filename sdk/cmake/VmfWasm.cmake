# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# Building VM programs: C -> wasm32-wasi with Debian's clang and wasi-libc.
#
# Including this file probes the toolchain and sets VMF_WASM_FOUND
# (clang that targets wasm32-wasi, wasm-ld and the wasi-libc sysroot all
# present).  Then:
#
#   vmf_wasm_program(NAME SOURCES a.c ... [CFLAGS ...] [LDFLAGS ...])
#
# builds ${VMF_WASM_OUTPUT_DIR}/NAME.wasm (default build/sdk/) with
# `clang --target=wasm32-wasi -O2 --sysroot=/usr` as part of `all`, and
# defines the target NAME_wasm.  Every program gets the SDK library
# (sdk/lib) and exports __stack_pointer (for the runtime's green threads).
include_guard(GLOBAL)

set(VMF_WASI_SYSROOT "/usr" CACHE PATH "wasi-libc sysroot (Debian: /usr)")
set(VMF_WASM_OUTPUT_DIR "${CMAKE_BINARY_DIR}/sdk" CACHE PATH
    "Where vmf_wasm_program() puts .wasm files")
set(_vmf_sdk_dir "${CMAKE_CURRENT_LIST_DIR}/..")

# A success is remembered; a failure is probed again at the next configure,
# so installing the toolchain later (scripts/lib/deps.sh) just works.
if(NOT VMF_WASM_FOUND)
  find_program(VMF_WASM_CC NAMES clang clang-14
               DOC "clang used for --target=wasm32-wasi")
  set(_found OFF)
  if(VMF_WASM_CC)
    # Compile and link a real program: this checks the wasm32 backend,
    # wasm-ld, the wasi-libc sysroot and the compiler-rt builtins at once.
    set(_dir "${CMAKE_BINARY_DIR}/CMakeFiles/vmf_wasm_probe")
    file(MAKE_DIRECTORY "${_dir}")
    file(WRITE "${_dir}/probe.c"
         "#include <stdio.h>\nint main(void){puts(\"x\");return 0;}\n")
    execute_process(
      COMMAND "${VMF_WASM_CC}" --target=wasm32-wasi
              "--sysroot=${VMF_WASI_SYSROOT}" -O2 "${_dir}/probe.c"
              -o "${_dir}/probe.wasm"
      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_VARIABLE _err)
    if(_rc EQUAL 0)
      set(_found ON)
    else()
      message(STATUS "wasm32-wasi toolchain probe failed: ${_err}")
    endif()
  endif()
  set(VMF_WASM_FOUND ${_found} CACHE INTERNAL
      "clang can build wasm32-wasi programs")
  message(STATUS "wasm32-wasi toolchain: ${VMF_WASM_FOUND}")
endif()

function(vmf_wasm_program name)
  cmake_parse_arguments(W "" "" "SOURCES;CFLAGS;LDFLAGS" ${ARGN})
  if(NOT VMF_WASM_FOUND)
    message(FATAL_ERROR "vmf_wasm_program(${name}): no wasm32-wasi toolchain")
  endif()
  set(_srcs)
  foreach(_s IN LISTS W_SOURCES)
    get_filename_component(_abs "${_s}" ABSOLUTE)
    list(APPEND _srcs "${_abs}")
  endforeach()
  set(_out "${VMF_WASM_OUTPUT_DIR}/${name}.wasm")
  # Not ${_vmf_sdk_dir}: that is set only in the directory scope that
  # included this file first (include_guard(GLOBAL) skips the others).
  set(_vmf_sdk_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/..")
  # The SDK library (sdk/lib: vos_thread_spawn, vos_thread_join) is
  # compiled into every program; the linker drops what a program does not
  # use.  __stack_pointer is exported because the runtime's scheduler
  # swaps it per green thread.  --strip-debug drops the DWARF that
  # Debian's wasi-libc brings (about 200 KB, 4/5 of a small program): a
  # module is sent over the air and stored on the device; the "name"
  # section stays, so traps still name functions.
  set(_lib "${_vmf_sdk_dir}/lib/vos_thread.c")
  add_custom_command(
    OUTPUT "${_out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${VMF_WASM_OUTPUT_DIR}"
    COMMAND "${VMF_WASM_CC}" --target=wasm32-wasi
            "--sysroot=${VMF_WASI_SYSROOT}" -O2 -std=c11 -Wall -Wextra
            -mmutable-globals "-I${_vmf_sdk_dir}/include" ${W_CFLAGS}
            ${_srcs} ${_lib} -Wl,--export=__stack_pointer
            -Wl,--strip-debug
            -o "${_out}" ${W_LDFLAGS}
    DEPENDS ${_srcs} ${_lib} "${_vmf_sdk_dir}/include/vos.h"
    COMMENT "wasm32-wasi ${name}.wasm"
    VERBATIM)
  add_custom_target(${name}_wasm ALL DEPENDS "${_out}")
endfunction()
