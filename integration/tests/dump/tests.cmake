# pg_dump / pg_restore through sluice (issue 11), against the pg_cluster and sluice fixtures: as app
# (transaction pooling) and app_session (session pooling), read/write splitting on. Each test makes its
# own databases on the primary (sluice_dump_*) and drops them at the end.
#   dump_unlogged   pg_dump dumps unlogged tables' rows and unlogged sequences' setval through sluice
#                   (pg_dump skips them when pg_is_in_recovery() says it is on a standby)
#   dump_roundtrip  pg_dump -Fd -j4 through sluice equals the direct dump; pg_restore -j4 through sluice
#                   rebuilds an equal database (schema and data)
# Included from integration/CMakeLists.txt after tests/tests.cmake, which defines SLUICE_IT_PYTHON.
set(dump_tests_dir ${CMAKE_CURRENT_LIST_DIR})
sluice_integration_test(dump_unlogged TIMEOUT 60
    COMMAND ${SLUICE_IT_PYTHON} -B ${dump_tests_dir}/dump_unlogged.py)
sluice_integration_test(dump_roundtrip TIMEOUT 120
    COMMAND ${SLUICE_IT_PYTHON} -B ${dump_tests_dir}/dump_roundtrip.py)
