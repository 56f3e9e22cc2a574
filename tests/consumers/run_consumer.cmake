# Builds and runs one consumer project; run as `cmake -P` from ctest:
#   -DKIND=add_subdirectory|find_package|header_only
#   -DCONFUT_SOURCE_DIR=<confut source> -DCONFUT_BUILD_DIR=<configured confut build>
#   -DWORK_DIR=<scratch dir> -DCXX=<compiler> -DGENERATOR=<cmake generator>
foreach(var KIND CONFUT_SOURCE_DIR CONFUT_BUILD_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer: ${var} is not set")
  endif()
endforeach()

set(project_dir "${CMAKE_CURRENT_LIST_DIR}/${KIND}")
set(build_dir "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${build_dir}")

# run(<step> <command...>): run a command, stop with its output if it fails.
function(run step)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "consumer ${KIND}: ${step} failed (${result}):\n${output}")
  endif()
  message(STATUS "consumer ${KIND}: ${step} ok")
endfunction()

# Configure + build a consumer CMake project, exporting its compile commands so
# we can check how confut's include directory reaches the compiler.
function(build_cmake_consumer)
  run(configure "${CMAKE_COMMAND}" -S "${project_dir}" -B "${build_dir}"
    -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX}" -DCMAKE_BUILD_TYPE=Debug
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON ${ARGN})
  run(build "${CMAKE_COMMAND}" --build "${build_dir}")
  file(READ "${build_dir}/compile_commands.json" commands)
  if(NOT commands MATCHES "-isystem")
    message(FATAL_ERROR
      "consumer ${KIND}: confut's headers are not on a system include path:\n${commands}")
  endif()
endfunction()

if(KIND STREQUAL "add_subdirectory")
  build_cmake_consumer("-DCONFUT_SOURCE_DIR=${CONFUT_SOURCE_DIR}")

  # confut is not top-level here, so none of its tests may be configured or built.
  file(STRINGS "${build_dir}/CMakeCache.txt" tests_option REGEX "^CONFUT_BUILD_TESTS:")
  if(NOT tests_option MATCHES "=OFF$")
    message(FATAL_ERROR "consumer ${KIND}: expected CONFUT_BUILD_TESTS=OFF, got '${tests_option}'")
  endif()
  file(GLOB_RECURSE test_binaries LIST_DIRECTORIES false "${build_dir}/test_*")
  list(FILTER test_binaries EXCLUDE REGEX "/CMakeFiles/")  # CMake's own probes (FindMPI)
  if(test_binaries)
    message(FATAL_ERROR "consumer ${KIND}: confut's tests were built:\n${test_binaries}")
  endif()
  set(program "${build_dir}/consumer")

elseif(KIND STREQUAL "find_package")
  # Install the already-configured confut build into a private prefix.
  set(prefix "${WORK_DIR}/prefix")
  run(install "${CMAKE_COMMAND}" --install "${CONFUT_BUILD_DIR}" --prefix "${prefix}")
  build_cmake_consumer("-DCMAKE_PREFIX_PATH=${prefix}"
    # Only the fresh install may satisfy find_package, not a system-wide copy.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  file(STRINGS "${build_dir}/CMakeCache.txt" confut_dir REGEX "^confut_DIR:")
  if(NOT confut_dir MATCHES "^confut_DIR:PATH=${prefix}/")
    message(FATAL_ERROR "consumer ${KIND}: found confut outside ${prefix}: ${confut_dir}")
  endif()
  set(program "${build_dir}/consumer")

elseif(KIND STREQUAL "header_only")
  # No CMake at all: the include path and -pthread are all a user needs.
  set(program "${build_dir}/consumer")
  run(compile "${CXX}" -std=c++20 "-I${CONFUT_SOURCE_DIR}/include"
    "${project_dir}/main.cpp" -pthread -o "${program}")

else()
  message(FATAL_ERROR "run_consumer: unknown KIND '${KIND}'")
endif()

run(run "${program}")
