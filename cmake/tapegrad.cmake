# Helpers shared by the layer CMakeLists.

# tg_add_layer(NAME SOURCES ... DEPS ...): one static library per layer, named tg_NAME with the
# alias tapegrad::NAME. Headers are included as "layer/file.h" from the source root, and from
# include/tapegrad once installed.
function(tg_add_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(tg_${name} STATIC ${ARG_SOURCES})
  add_library(tapegrad::${name} ALIAS tg_${name})
  set_target_properties(tg_${name} PROPERTIES EXPORT_NAME ${name})
  target_include_directories(tg_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/tapegrad>)
  target_compile_features(tg_${name} PUBLIC cxx_std_20)
  target_link_libraries(tg_${name} PUBLIC ${ARG_DEPS})
  tg_target_flags(tg_${name})
endfunction()

# Warnings and CPU flags, private to our own targets (never exported to consumers).
# -fno-math-errno: no library function of ours reads errno, and with it set GCC must call libm's
# sqrt for every element (to set errno on a negative argument) instead of the vector
# instruction: the optimizers' fused kernels ran 8x slower for it. The results are the same
# IEEE values; nothing else of -ffast-math is used.
function(tg_target_flags target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unknown-pragmas -fno-math-errno>)
  if(TG_NATIVE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endfunction()
