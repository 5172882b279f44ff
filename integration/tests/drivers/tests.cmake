# Pooling correctness through real drivers other than libpq's C API users: psycopg 3 (python3-psycopg)
# and pgjdbc (libpostgresql-jdbc-java, compiled against at test time with the machine's javac into the
# build tree). Both speak only the extended protocol. Included from integration/CMakeLists.txt after
# tests/tests.cmake, which defines SLUICE_IT_PYTHON.

set(drivers_dir ${CMAKE_CURRENT_LIST_DIR})

execute_process(COMMAND ${SLUICE_IT_PYTHON} -c "import psycopg"
                RESULT_VARIABLE psycopg3_missing OUTPUT_QUIET ERROR_QUIET)
if(psycopg3_missing)
  message(WARNING "${SLUICE_IT_PYTHON} cannot import psycopg (apt-get install python3-psycopg): "
                  "drivers_psycopg3 will fail")
endif()
find_program(SLUICE_IT_JAVAC javac)
if(NOT SLUICE_IT_JAVAC OR NOT EXISTS /usr/share/java/postgresql.jar)
  message(WARNING "no javac or no /usr/share/java/postgresql.jar (apt-get install openjdk-17-jdk-headless "
                  "libpostgresql-jdbc-java): drivers_pgjdbc will fail")
endif()

sluice_integration_test(drivers_psycopg3 TIMEOUT 180
    COMMAND ${SLUICE_IT_PYTHON} -B ${drivers_dir}/psycopg3_pooling.py)
sluice_integration_test(drivers_pgjdbc TIMEOUT 180
    COMMAND ${BASH_EXECUTABLE} ${drivers_dir}/pgjdbc.sh ${CMAKE_CURRENT_BINARY_DIR}/drivers-java)
