# Runs as `cmake -P` from a compile-fail ctest:
#   -DBUILD_DIR=<build tree> -DTARGET=<target> -DCONFIG=<config> -DEXPECT=<regex>
# Passes only when building TARGET fails AND the build output matches EXPECT.
# (PASS_REGULAR_EXPRESSION alone would also pass a build that succeeds while
# printing the text, and WILL_FAIL cannot be combined with it.)
foreach(var BUILD_DIR TARGET EXPECT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "confutCheckCompileFails: ${var} is not set")
  endif()
endforeach()

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(result EQUAL 0)
  message(FATAL_ERROR
    "${TARGET} compiled, but it must fail to compile with output matching\n"
    "  ${EXPECT}\nBuild output:\n${output}")
endif()
if(NOT output MATCHES "${EXPECT}")
  message(FATAL_ERROR
    "${TARGET} failed to compile as expected, but its output does not match\n"
    "  ${EXPECT}\nBuild output:\n${output}")
endif()
message(STATUS "${TARGET} failed to compile with the expected diagnostic")
