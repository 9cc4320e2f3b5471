# cmake -DCMD="prog;arg;..." -DREGEX="..." -P expect_error.cmake
# Passes when the command exits with a non-zero status (not a crash: a signal is a failure)
# and its output matches REGEX — how the tests check that bad input gets a clear error.
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "command crashed (${rc}):\n${out}${err}")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "command succeeded but should have failed:\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match '${REGEX}':\n${out}${err}")
endif()
message(STATUS "failed as expected (exit ${rc}): ${err}")
