# cmake -DPYTHON=python3 -DTEST_IO=test_io -DSCRIPT=torch_export_check.py -DDIR=folder -P this
# The export test case writes its files into DIR, then PyTorch loads them
# (torch_export_check.py). Without python3, torch or safetensors it prints "SKIPPED: ..." and
# stops, which CTest maps to a skip (SKIP_REGULAR_EXPRESSION).
if("${PYTHON}" STREQUAL "")
  message("SKIPPED: no python3 found")
  return()
endif()
execute_process(COMMAND ${PYTHON} -c "import torch, safetensors.torch" RESULT_VARIABLE rc
                OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message("SKIPPED: python3 cannot import torch and safetensors (Debian: python3-torch)")
  return()
endif()
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} -E env "TG_EXPORT_DIR=${DIR}" ${TEST_IO}
                "--test-case=checkpoint: export_state_dict output for the PyTorch check"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_io could not write the export (status ${rc})")
endif()
execute_process(COMMAND ${PYTHON} ${SCRIPT} ${DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "PyTorch did not load the export (status ${rc})")
endif()
