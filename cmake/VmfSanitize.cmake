# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# VMF_SANITIZE=address,undefined instruments every target of the build.
# This is the one place the project sets flags for all targets: sanitizers
# must cover every object, including the test executables.
if(VMF_SANITIZE)
  set(_vmf_san "-fsanitize=${VMF_SANITIZE}" "-fno-omit-frame-pointer"
      "-fno-sanitize-recover=all")
  add_compile_options(${_vmf_san})
  add_link_options(${_vmf_san})
endif()

# VMF_WITH_FUZZ=ON: every object gets libFuzzer's coverage instrumentation
# (fuzzer-no-link) so the fuzzer sees the engine's branches; only the fuzz
# executables link libFuzzer itself (tests/fuzz/CMakeLists.txt).  Use a
# dedicated build directory with clang, e.g.
#   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang -DVMF_WITH_FUZZ=ON \
#         -DVMF_SANITIZE=address,undefined
if(VMF_WITH_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "VMF_WITH_FUZZ=ON needs clang (-DCMAKE_C_COMPILER=clang)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
