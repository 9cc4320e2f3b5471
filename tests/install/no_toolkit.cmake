# cmake -DPREFIX=<install prefix> -DSOURCE=<consumer source> -DBUILD=<scratch build dir>
#       -DCXX=<compiler> "-DCXX_FLAGS=..." "-DLINKER_FLAGS=..." "-DFORBID=<dir>;..."
#       "-DREGEX=<expected output>" -P no_toolkit.cmake
# A consumer of the installed package on a machine without the CUDA toolkit, as near as a
# machine that has one allows: no installed header includes a CUDA header; then, with
# CUDAToolkit made unfindable, PATH and the library and include search variables stripped of
# every toolkit directory and CUDACXX/CUDA_PATH/CUDA_HOME unset, the consumer configures,
# builds and runs; no compile or link command names a FORBID directory (the toolkit's include,
# library and bin directories) and the program needs no libcudart or libcublas to start.

# 1. The installed headers.
file(GLOB_RECURSE headers ${PREFIX}/include/*.h ${PREFIX}/include/*.cuh)
if(NOT headers)
  message(FATAL_ERROR "no headers under ${PREFIX}/include: was the tree installed?")
endif()
foreach(h ${headers})
  file(STRINGS ${h} hits REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](cuda|cublas|cufft|curand|cusparse|nvrtc|thrust/)")
  if(hits)
    message(FATAL_ERROR "installed header ${h} includes a CUDA header: ${hits}")
  endif()
endforeach()

# 2. The environment of a machine without the toolkit.
function(strip_toolkit var)
  string(REPLACE ":" ";" dirs "$ENV{${var}}")
  set(kept "")
  foreach(d ${dirs})
    set(drop OFF)
    foreach(f ${FORBID})
      string(FIND "${d}" "${f}" at)
      if(at EQUAL 0)
        set(drop ON)
      endif()
    endforeach()
    if(NOT drop AND NOT d MATCHES "/cuda")
      list(APPEND kept "${d}")
    endif()
  endforeach()
  string(REPLACE ";" ":" kept "${kept}")
  set(ENV{${var}} "${kept}")
endfunction()
strip_toolkit(PATH)
strip_toolkit(LD_LIBRARY_PATH)
foreach(v CUDACXX CUDA_PATH CUDA_HOME CUDA_ROOT CUDAToolkit_ROOT CUDA_TOOLKIT_ROOT_DIR CPATH
        C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH CMAKE_GENERATOR)
  unset(ENV{${v}})
endforeach()

# 3. Configure and build, from scratch.
file(REMOVE_RECURSE ${BUILD})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${BUILD} -G "Unix Makefiles"
  -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX}
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
  -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=TRUE -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "the consumer does not configure without the CUDA toolkit:\n${out}${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD} RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "the consumer does not build without the CUDA toolkit:\n${out}${err}")
endif()

# 4. Its compile and link commands.
file(READ ${BUILD}/compile_commands.json commands)
file(GLOB_RECURSE link_files ${BUILD}/CMakeFiles/*/link.txt)
if(NOT link_files)
  message(FATAL_ERROR "no link.txt under ${BUILD}/CMakeFiles: cannot check the link command")
endif()
foreach(f ${link_files})
  file(READ ${f} link)
  string(APPEND commands "\n${link}")
endforeach()
foreach(f ${FORBID})
  string(FIND "${commands}" "${f}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "the consumer's commands name the CUDA toolkit's ${f}:\n${commands}")
  endif()
endforeach()
if(commands MATCHES "cudart|cublas")
  message(FATAL_ERROR "the consumer's commands name a CUDA library:\n${commands}")
endif()

# 5. What it needs to start, and a run.
file(GET_RUNTIME_DEPENDENCIES EXECUTABLES ${BUILD}/consumer
  RESOLVED_DEPENDENCIES_VAR resolved UNRESOLVED_DEPENDENCIES_VAR unresolved)
foreach(lib ${resolved} ${unresolved})
  if(lib MATCHES "libcudart|libcublas")
    message(FATAL_ERROR "the consumer needs ${lib} to start")
  endif()
endforeach()
execute_process(COMMAND ${BUILD}/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "0" OR NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "the consumer failed (exit status '${rc}', expected 0 and '${REGEX}')")
endif()
message("consumer without the CUDA toolkit ok")
