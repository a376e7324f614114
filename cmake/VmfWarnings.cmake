# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# vmf_warnings(target): the project's warning set, target-scoped.
# VMF_WERROR=ON (CI) turns warnings into errors.
function(vmf_warnings tgt)
  target_compile_options(${tgt} PRIVATE
    -Wall -Wextra -Wshadow -Wdouble-promotion -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wvla)
  if(VMF_WERROR)
    target_compile_options(${tgt} PRIVATE -Werror)
  endif()
endfunction()
