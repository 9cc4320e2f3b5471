# cmake -DPYTHON=python3 -DTEST_IO=test_io -DSCRIPT=torch_export_check.py -DDIR=folder -P this
# The export test case writes its files into DIR, then PyTorch loads them
# (torch_export_check.py; the safetensors package is optional). Without a python3 that has torch
# it prints "SKIPPED: ..." and stops, which CTest maps to a skip (SKIP_REGULAR_EXPRESSION).
# The python3 on PATH may not be the one with torch (a pyenv in front of Debian's): try both.
set(python "")
foreach(candidate "${PYTHON}" /usr/bin/python3)
  if(NOT "${candidate}" STREQUAL "" AND EXISTS "${candidate}")
    execute_process(COMMAND ${candidate} -c "import torch" RESULT_VARIABLE rc
                    OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(python "${candidate}")
      break()
    endif()
  endif()
endforeach()
if("${python}" STREQUAL "")
  message("SKIPPED: no python3 that can import torch (Debian: python3-torch)")
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
execute_process(COMMAND ${python} ${SCRIPT} ${DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "PyTorch did not load the export (status ${rc})")
endif()
