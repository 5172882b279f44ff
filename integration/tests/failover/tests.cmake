# Switchover, failover and drills, end to end (integration/tests/failover/). Like the scoring tests, each
# starts a sandbox of its own (/tmp/sluice-scoring-failover_*-<pid>, free ports) and its own sluice with
# an admin API, because it promotes replicas: it needs no fixture and cannot disturb other tests.
# sluicectl drives the switchovers and drills. Label: failover (ctest -L failover).
set(SLUICE_FAILOVER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

# sluice_failover_test(<name> <script> <timeout s>)
function(sluice_failover_test name script timeout)
  add_test(NAME ${name} COMMAND /usr/bin/python3 -B ${SLUICE_FAILOVER_TEST_DIR}/${script}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES
      RESOURCE_LOCK sluice_integration TIMEOUT ${timeout} LABELS "integration;failover"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICECTL_BIN=$<TARGET_FILE:sluicectl>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(NOT SLUICE_PROXY_TESTS)
    set_tests_properties(${name} PROPERTIES DISABLED TRUE)
  endif()
endfunction()

sluice_failover_test(failover_switchover_rejoin switchover_rejoin.py 180)
sluice_failover_test(failover_auto auto_failover.py 120)
sluice_failover_test(failover_drill_pgbench drill_pgbench.py 300)
sluice_failover_test(failover_demo_drill demo_drill.py 300)
