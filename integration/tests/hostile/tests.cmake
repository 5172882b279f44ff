# Hostile and unusual but valid input (issue 15): sessions must never get stuck.
#   pipeline_backpressure  1. large pipelines with large answers: forward and relay at once
set(hostile_tests_dir ${CMAKE_CURRENT_LIST_DIR})
sluice_integration_test(hostile_pipeline_backpressure TIMEOUT 300
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/pipeline_backpressure.py)
#   protocol_limits        4. Parse with 32,768-65,535 parameter types (an unsigned count)
sluice_integration_test(hostile_protocol_limits TIMEOUT 60
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/protocol_limits.py)
#   startup_settings       5. a startup parameter the server refuses ends the session once, with its own error
sluice_integration_test(hostile_startup_settings TIMEOUT 60
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/startup_settings.py)
#   fd_limit              10. the client limit fits the open-file limit; EMFILE refuses (53300) with a bounded log
sluice_integration_test(hostile_fd_limit SANDBOX_ONLY TIMEOUT 180
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/fd_limit.py)
#   dba_logs              16. failed logins with the client address, rate limited; startup timeouts; --check
sluice_integration_test(hostile_dba_logs SANDBOX_ONLY TIMEOUT 120
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/dba_logs.py)
#   graceful_shutdown     12. SIGTERM drains (57P01 to idle clients, transactions finish), shutdown_timeout,
#                             restart by SO_REUSEPORT hand-over without losing clients that retry
sluice_integration_test(hostile_graceful_shutdown SANDBOX_ONLY TIMEOUT 180
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/graceful_shutdown.py)
#   unusual_sequences      2. valid but unusual sequences, clients leaving anywhere: every server connection returns
sluice_integration_test(hostile_unusual_sequences TIMEOUT 300
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/unusual_sequences.py)
#   reload                13. SIGHUP / POST /reload / sluicectl reload apply users, passwords, backends added
#                             and removed, pool sizes and limits with a transaction open across; listen_port
#                             reported as needing a restart; a broken file refused with file:line:key
sluice_integration_test(hostile_reload SANDBOX_ONLY TIMEOUT 180
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/reload.py)
#   startup_deadline       limits.startup_timeout ends a login that waits for a backend that never answers
sluice_integration_test(hostile_startup_deadline TIMEOUT 60
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/startup_deadline.py)
