# Pooling correctness (issue 10): raw-protocol tests of what must not leak between clients that take
# turns on one server connection (user app_one, pool_size = 1; app_session for session pooling).
# Included from integration/CMakeLists.txt after tests/tests.cmake, which defines SLUICE_IT_PYTHON.
# One script per item of the issue, so that a failure names it:
#   pins          1. session state created with the extended protocol pins the client
#   unnamed       2. the unnamed prepared statement across batches (and psql \gdesc)
#   cancel_race   3. a late cancel never lands on another client's query
#   settings      4-6. set_config(), SET in a committed transaction, replay order of settings
#   session_mode  7. session pooling never silently swaps the server connection
#   errors        8. error texts when a server connection is terminated; malformed startup
#   prepared_bound 11. server-side prepared statements bounded per connection (LRU, Close)
#   unsynced      a client leaving mid-batch (no Sync) never hands its open implicit transaction on

set(pooling_tests_dir ${CMAKE_CURRENT_LIST_DIR})
foreach(name IN ITEMS pins unnamed cancel_race settings session_mode errors prepared_bound unsynced)
  sluice_integration_test(pooling_${name} TIMEOUT 120
      COMMAND ${SLUICE_IT_PYTHON} -B ${pooling_tests_dir}/${name}.py)
endforeach()
