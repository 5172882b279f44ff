# Replica scoring and failover, end to end (integration/tests/scoring/). Each test starts a sandbox of its
# own (/tmp/sluice-scoring-<test>-<pid>, free ports) and its own sluice with the config it needs, because
# its faults are destructive (paused replay, CPU throttling, kills, promotion): it needs no fixture and
# cannot disturb the tests that share the pg_cluster/sluice fixtures. Python tests (lib.py: the shared
# harness); the fault tools are integration/faults.sh. Label: scoring (ctest -L scoring).
set(SLUICE_SCORING_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

# sluice_scoring_test(<name> <script> <timeout s>)
function(sluice_scoring_test name script timeout)
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${SLUICE_SCORING_TEST_DIR}/${script}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES
      RESOURCE_LOCK sluice_integration TIMEOUT ${timeout} LABELS "integration;scoring"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(NOT SLUICE_PROXY_TESTS)
    set_tests_properties(${name} PROPERTIES DISABLED TRUE)
  endif()
endfunction()

sluice_scoring_test(scoring_lag lag.py 90)
sluice_scoring_test(scoring_slow_replica slow_replica.py 120)
sluice_scoring_test(scoring_replica_kill replica_kill.py 90)
sluice_scoring_test(scoring_read_your_writes read_your_writes.py 120)
sluice_scoring_test(scoring_promotion promotion.py 90)
sluice_scoring_test(scoring_idle_cluster idle_cluster.py 90)
sluice_scoring_test(scoring_split_brain split_brain.py 90)
sluice_scoring_test(scoring_heartbeat heartbeat.py 90)
sluice_scoring_test(scoring_fallback_error fallback_error.py 90)
sluice_scoring_test(scoring_replica_freeze replica_freeze.py 120)
sluice_scoring_test(scoring_primary_stall primary_stall.py 90)
