# cmake -DCMD="prog;arg;..." -DREGEX="..." -P expect_output.cmake
# Passes when the command exits with status 0 and its output matches REGEX — how the course
# examples are checked (a pass regex alone would ignore the exit status). The output is
# echoed, so CTest's SKIP_ and FAIL_REGULAR_EXPRESSION properties still see it.
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "exit status '${rc}', expected 0")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "the output does not match '${REGEX}'")
endif()
