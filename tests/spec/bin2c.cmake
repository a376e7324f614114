# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# cmake -DIN=file.wasm -DOUT=file.c -DNAME=sym -P bin2c.cmake
# Embeds a binary file as `const unsigned char NAME[]` + `NAME_len`, so the
# runner needs no data file at run time.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x..," 12 _row)
string(REGEX REPLACE "(${_row})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}"
"/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
/* Generated from ${IN} by bin2c.cmake; do not edit. */
#include <stddef.h>
extern const unsigned char ${NAME}[];
extern const size_t ${NAME}_len;
const unsigned char ${NAME}[] = {
    ${bytes}
};
const size_t ${NAME}_len = ${len};
")
