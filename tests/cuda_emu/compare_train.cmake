# cmake -DCPU=prog -DGPU=prog -DARGS=a;b;... -DNEED=dir -P compare_train.cmake
# Runs the trainer twice with the same flags, on the CPU and with --device cuda (the emulated
# build), and passes when both exit 0 and their test accuracies agree within half a point, the
# issue's bar for a CUDA run against the CPU. Without the data folder NEED it reports a skip.
if(NOT IS_DIRECTORY "${NEED}")
  message("SKIPPED: the folder ${NEED} is not there, and this test needs it")
  return()
endif()
function(run_one prog label out_var)
  execute_process(COMMAND ${prog} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
  message("${label}: ${out}${err}")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${label} run: exit status '${rc}', expected 0")
  endif()
  # Four decimals, read as basis points ("1" in front keeps math() from reading a leading 0).
  if(NOT out MATCHES "test_accuracy ([01])\\.([0-9][0-9][0-9][0-9])")
    message(FATAL_ERROR "${label} run: no test_accuracy with four decimals in the output")
  endif()
  math(EXPR bp "${CMAKE_MATCH_1} * 10000 + 1${CMAKE_MATCH_2} - 10000")
  set(${out_var} ${bp} PARENT_SCOPE)
endfunction()
run_one(${CPU} cpu acc_cpu ${ARGS})
run_one(${GPU} cuda acc_gpu ${ARGS} --device cuda ${EXTRA})
math(EXPR diff "${acc_gpu} - ${acc_cpu}")
if(diff LESS -50 OR diff GREATER 50)
  message(FATAL_ERROR "test accuracy on cuda (${acc_gpu} bp) and on the cpu (${acc_cpu} bp) differ by more than half a point")
endif()
message("test accuracy: cpu ${acc_cpu} bp, cuda ${acc_gpu} bp (within half a point)")
