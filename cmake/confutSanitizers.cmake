# CONFUT_SANITIZE applies to the executables this project builds (tests,
# examples, benchmarks), never to confut::confut, so consumers are unaffected.
include_guard(GLOBAL)
include(confutWarnings)

if(CONFUT_SANITIZE STREQUAL "")
  set(confut_sanitizer_flags "")
elseif(CONFUT_SANITIZE STREQUAL "thread")
  set(confut_sanitizer_flags -fsanitize=thread)
elseif(CONFUT_SANITIZE STREQUAL "address")
  # UBSan rides along with ASan; no-recover turns every report into a failure.
  set(confut_sanitizer_flags
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
else()
  message(FATAL_ERROR
    "CONFUT_SANITIZE is '${CONFUT_SANITIZE}'; expected empty, 'thread' or 'address'")
endif()

if(confut_sanitizer_flags)
  message(STATUS "confut: sanitizer '${CONFUT_SANITIZE}' for tests, examples and benchmarks")
endif()

# confut_target_sanitizer(<target>)
function(confut_target_sanitizer target)
  if(confut_sanitizer_flags)
    target_compile_options(${target} PRIVATE ${confut_sanitizer_flags})
    target_link_options(${target} PRIVATE ${confut_sanitizer_flags})
  endif()
endfunction()

# confut_internal_target(<target>): warnings + sanitizer, for everything we build.
function(confut_internal_target target)
  confut_target_warnings(${target})
  confut_target_sanitizer(${target})
endfunction()
