# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# vmf_protobuf_c(TARGET PROTOS file.proto...)
#
# Runs protoc-c (Debian protobuf-c-compiler) at build time on each .proto
# and makes a static library TARGET of the generated C.  The generated
# headers land in ${CMAKE_CURRENT_BINARY_DIR}/TARGET, which is a PUBLIC
# include directory of TARGET; libprotobuf-c (libprotobuf-c-dev) is a
# PUBLIC dependency.  Only one wrapper file per module should include the
# generated headers (STYLE.md: one wrapper per third-party library).

find_program(VMF_PROTOC_C protoc-c)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PROTOBUF_C IMPORTED_TARGET libprotobuf-c)

function(vmf_protobuf_c target)
  cmake_parse_arguments(P "" "" "PROTOS" ${ARGN})
  if(NOT VMF_PROTOC_C OR NOT PROTOBUF_C_FOUND)
    message(FATAL_ERROR "vmf_protobuf_c: need protoc-c and libprotobuf-c "
                        "(apt-get install protobuf-c-compiler libprotobuf-c-dev)")
  endif()
  set(_out ${CMAKE_CURRENT_BINARY_DIR}/${target})
  file(MAKE_DIRECTORY ${_out})
  set(_srcs)
  foreach(_p IN LISTS P_PROTOS)
    get_filename_component(_abs ${_p} ABSOLUTE)
    get_filename_component(_dir ${_abs} DIRECTORY)
    get_filename_component(_we ${_abs} NAME_WE)
    add_custom_command(
      OUTPUT ${_out}/${_we}.pb-c.c ${_out}/${_we}.pb-c.h
      COMMAND ${VMF_PROTOC_C} --proto_path=${_dir} --c_out=${_out} ${_abs}
      DEPENDS ${_abs}
      COMMENT "protoc-c ${_we}.proto"
      VERBATIM)
    list(APPEND _srcs ${_out}/${_we}.pb-c.c)
  endforeach()
  add_library(${target} STATIC ${_srcs})
  # Generated code: no project warnings (it is not ours to fix).
  target_include_directories(${target} PUBLIC ${_out})
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUF_C)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
