# Warning flags for confut's own tests, examples and benchmarks. Never applied
# to confut::confut itself: consumers choose their own warnings.
include_guard(GLOBAL)

set(confut_warning_flags
  $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall;-Wextra;-Wpedantic>
  $<$<CXX_COMPILER_ID:MSVC>:/W4;/permissive->)
if(CONFUT_WARNINGS_AS_ERRORS)
  list(APPEND confut_warning_flags
    $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Werror>
    $<$<CXX_COMPILER_ID:MSVC>:/WX>)
endif()

# confut_target_warnings(<target>)
function(confut_target_warnings target)
  target_compile_options(${target} PRIVATE ${confut_warning_flags})
endfunction()

# confut_verify_headers_with_warnings(<interface target>)
#
# CMake generates <target>_verify_interface_header_sets at generate time, so we
# cannot call target_compile_options on it. Instead the library's interface
# carries the warning flags for that one consumer only; BUILD_INTERFACE keeps
# them out of the installed package.
function(confut_verify_headers_with_warnings target)
  set(verifier "${target}_verify_interface_header_sets")
  string(JOIN "$<SEMICOLON>" flags ${confut_warning_flags})
  target_compile_options(${target} INTERFACE
    "$<BUILD_INTERFACE:$<$<STREQUAL:$<TARGET_PROPERTY:NAME>,${verifier}>:${flags}>>")
endfunction()
