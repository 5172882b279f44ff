# Tenant QoS, end to end (integration/tests/qos/qos.py). Like the scoring tests, each scenario starts a
# sandbox and a sluice of its own (through integration/tests/scoring/lib.py): its policies are its own,
# and the isolation scenario loads the servers heavily. Label: qos (ctest -L qos).
set(SLUICE_QOS_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

function(sluice_qos_test scenario timeout)
  add_test(NAME qos_${scenario} COMMAND /usr/bin/python3 ${SLUICE_QOS_TEST_DIR}/qos.py ${scenario}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(qos_${scenario} PROPERTIES
      RESOURCE_LOCK sluice_integration TIMEOUT ${timeout} LABELS "integration;qos"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(NOT SLUICE_PROXY_TESTS)
    set_tests_properties(qos_${scenario} PROPERTIES DISABLED TRUE)
  endif()
endfunction()

sluice_qos_test(isolation 240)
sluice_qos_test(rate 90)
sluice_qos_test(refusal 90)
sluice_qos_test(reload 90)
sluice_qos_test(edges 90)
