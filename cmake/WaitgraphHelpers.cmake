# wg_cc_library(NAME SRCS ... [HDRS ...] [DEPS ...]): a static library whose
# includes are rooted at the repository top ("trace/chunk_file.h").
function(wg_cc_library)
  cmake_parse_arguments(WG "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  add_library(${WG_NAME} STATIC ${WG_SRCS} ${WG_HDRS})
  target_include_directories(${WG_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${WG_NAME} PUBLIC ${WG_DEPS})
  # Designated initializers leave the other members at their defaults on purpose.
  target_compile_options(${WG_NAME} PRIVATE -Wall -Wextra -Wno-unused-parameter
                         -Wno-missing-field-initializers)
endfunction()

# wg_cc_test(NAME SRCS ... [DEPS ...]): a GoogleTest binary registered with ctest.
function(wg_cc_test)
  cmake_parse_arguments(WG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${WG_NAME} ${WG_SRCS})
  set_target_properties(${WG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${WG_NAME} PRIVATE ${WG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${WG_NAME} PRIVATE WAITGRAPH_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${WG_NAME} DISCOVERY_TIMEOUT 30)
endfunction()
