# Hostile and unusual but valid input (issue 15): sessions must never get stuck.
#   pipeline_backpressure  1. large pipelines with large answers: forward and relay at once
set(hostile_tests_dir ${CMAKE_CURRENT_LIST_DIR})
sluice_integration_test(hostile_pipeline_backpressure TIMEOUT 300
    COMMAND ${SLUICE_IT_PYTHON} -B ${hostile_tests_dir}/pipeline_backpressure.py)
