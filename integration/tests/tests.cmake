# End-to-end tests through sluice with real clients: psycopg2 scripts (sharing lib.py), psql and pgbench.
# Included from integration/CMakeLists.txt; each test runs serially against the pg_cluster and sluice
# fixtures. Debian's python3 is used on purpose: it is the one with python3-psycopg2.

find_program(SLUICE_IT_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SLUICE_IT_PYTHON)
  set(SLUICE_IT_PYTHON /usr/bin/python3)
endif()
execute_process(COMMAND ${SLUICE_IT_PYTHON} -c "import psycopg2"
                RESULT_VARIABLE psycopg2_missing OUTPUT_QUIET ERROR_QUIET)
if(psycopg2_missing)
  message(WARNING "${SLUICE_IT_PYTHON} cannot import psycopg2 (apt-get install python3-psycopg2): "
                  "the psycopg2 integration tests will fail")
endif()

set(tests_dir ${CMAKE_CURRENT_LIST_DIR})

# sluice_python_test(<name> <script> <timeout>): runs tests/<script> (-B: no __pycache__ in the source
# tree). Scripts must not be named like a standard module (copy.py would shadow `copy` for every import).
function(sluice_python_test name script timeout)
  sluice_integration_test(${name} TIMEOUT ${timeout}
      COMMAND ${SLUICE_IT_PYTHON} -B ${tests_dir}/${script})
endfunction()

# Registration order is run order. The tests that stop servers come late, and each restores the full
# cluster before it ends (in a finally block) so that the ones after it see three servers.
sluice_python_test(routing routing.py 60)
sluice_python_test(routing_trust routing_trust.py 90)
sluice_python_test(auth auth.py 60)
sluice_python_test(session_state session_state.py 60)
sluice_python_test(pinning pinning.py 60)
sluice_python_test(pool_budget pool_budget.py 120)
sluice_python_test(cancel cancel.py 60)
sluice_python_test(copy copy_io.py 60)
sluice_python_test(bad_input bad_input.py 60)
sluice_integration_test(psql TIMEOUT 90 COMMAND ${BASH_EXECUTABLE} ${tests_dir}/psql.sh)
sluice_integration_test(pgbench TIMEOUT 120 COMMAND ${BASH_EXECUTABLE} ${tests_dir}/pgbench.sh)
sluice_python_test(replica_down replica_down.py 120)
sluice_python_test(primary_down primary_down.py 120)
sluice_python_test(saslprep saslprep.py 60)

# The admin API, /metrics (checked with promtool) and sluicectl (integration/tests/admin/). They change
# nothing for the tests after them: a drained replica is undrained in a finally block.
sluice_python_test(admin_api admin/admin_api.py 60)
sluice_python_test(admin_drain admin/admin_drain.py 90)
sluice_python_test(admin_metrics admin/admin_metrics.py 60)
sluice_integration_test(admin_sluicectl TIMEOUT 90
    COMMAND ${SLUICE_IT_PYTHON} -B ${tests_dir}/admin/sluicectl_cli.py $<TARGET_FILE:sluicectl>)

# cmake --install into a fresh prefix gives a runnable service (issue 15, item 15).
sluice_integration_test(install SANDBOX_ONLY TIMEOUT 120
    COMMAND ${BASH_EXECUTABLE} ${tests_dir}/install.sh ${CMAKE_BINARY_DIR})
