# PostgreSQL's regression suite through sluice (integration/regress/run.sh, docs/regress.md). regress_subset
# runs the subset in integration/regress/subset.txt straight at the primary and through a sluice of its own
# (transaction pooling, splitting on), on a sandbox of its own, and fails when a test that passes directly
# fails through sluice. The PostgreSQL source (about 23 MB, from Debian's source archive) and regress.so are
# cached in SLUICE_REGRESS_CACHE (/var/cache/sluice-regress): downloaded and built on the first run only.
# Label: regress (ctest -L regress).
set(SLUICE_REGRESS_DIR ${CMAKE_CURRENT_LIST_DIR})
string(SHA1 regress_tree_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${regress_tree_hash}" 0 8 regress_tree_hash)
add_test(NAME regress_subset COMMAND ${BASH_EXECUTABLE} ${SLUICE_REGRESS_DIR}/run.sh --subset
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(regress_subset PROPERTIES
    RESOURCE_LOCK sluice_integration TIMEOUT 300 LABELS "integration;regress"
    ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SLUICE_SANDBOX_DIR=/tmp/sluice-regress-${regress_tree_hash};SLUICE_REGRESS_OUT=${CMAKE_BINARY_DIR}/regress")
if(NOT SLUICE_PROXY_TESTS)
  set_tests_properties(regress_subset PROPERTIES DISABLED TRUE)
endif()
