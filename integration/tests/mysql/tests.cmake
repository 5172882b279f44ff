# Tests against the MariaDB sandbox (fixture mariadb_cluster, integration/CMakeLists.txt).

# The sandbox itself: servers, roles, GTID replication, read-only replicas, ed25519 (PyMySQL, mariadb CLI).
sluice_mysql_test(mysql_sandbox TIMEOUT 60
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/sandbox_test.py)

# The Connector/C++ client. Debian 12's libmysqlcppconn-dev cannot be installed beside libboost1.81-dev
# (it depends on Boost 1.74's libboost-dev), so integration/install-deps.sh unpacks its .deb into
# SLUICE_MYSQLCPPCONN_DIR with libmysqlcppconn.so pointing at the installed runtime (libmysqlcppconn7v5).
# Found there (or in the system, if the package is installed); without it the client is not built.
set(SLUICE_MYSQLCPPCONN_DIR /var/cache/sluice/mysqlcppconn-dev CACHE PATH
    "where install-deps.sh unpacked libmysqlcppconn-dev (usr/include, usr/lib/<arch>)")
find_path(MYSQLCPPCONN_INCLUDE_DIR mysql_driver.h HINTS ${SLUICE_MYSQLCPPCONN_DIR}/usr/include)
find_library(MYSQLCPPCONN_LIBRARY mysqlcppconn
    HINTS ${SLUICE_MYSQLCPPCONN_DIR}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} ${SLUICE_MYSQLCPPCONN_DIR}/usr/lib)
if(MYSQLCPPCONN_INCLUDE_DIR AND MYSQLCPPCONN_LIBRARY)
  message(STATUS "Connector/C++: ${MYSQLCPPCONN_INCLUDE_DIR}, ${MYSQLCPPCONN_LIBRARY}")
  add_executable(sluice_cppconn_client ${CMAKE_CURRENT_LIST_DIR}/cppconn_client.cpp)
  # SYSTEM (-isystem): its headers are not ours to warn about (and use C++98's throw()).
  target_include_directories(sluice_cppconn_client SYSTEM PRIVATE ${MYSQLCPPCONN_INCLUDE_DIR})
  target_link_libraries(sluice_cppconn_client PRIVATE ${MYSQLCPPCONN_LIBRARY} Boost::headers)
  target_compile_features(sluice_cppconn_client PRIVATE cxx_std_20)
  target_compile_options(sluice_cppconn_client PRIVATE ${SLUICE_WARNINGS})
  sluice_mysql_test(mysql_cppconn TIMEOUT 60 COMMAND $<TARGET_FILE:sluice_cppconn_client>)
else()
  message(STATUS "Connector/C++ headers not found in ${SLUICE_MYSQLCPPCONN_DIR} (run integration/install-deps.sh): "
                 "test mysql_cppconn not built")
endif()

# The MySQL login state machines (backends/mysql/auth) against real peers: server_login over a plain
# socket against the sandbox (mysql_native_password, client_ed25519, 1045, a query after login), and
# client_login serving the mariadb CLI and PyMySQL (right and wrong passwords, unknown user).
add_executable(sluice_mysql_login_probe ${CMAKE_CURRENT_LIST_DIR}/login_probe.cpp)
target_link_libraries(sluice_mysql_login_probe PRIVATE sluice_mysql_auth)
target_compile_options(sluice_mysql_login_probe PRIVATE ${SLUICE_WARNINGS})
sluice_mysql_test(mysql_login_probe TIMEOUT 60
    COMMAND bash -c "source <(integration/mariadb_sandbox.sh env) && exec \"$0\"" $<TARGET_FILE:sluice_mysql_login_probe>)
add_executable(sluice_mysql_login_server_probe ${CMAKE_CURRENT_LIST_DIR}/login_server_probe.cpp)
target_link_libraries(sluice_mysql_login_server_probe PRIVATE sluice_mysql_auth)
target_compile_options(sluice_mysql_login_server_probe PRIVATE ${SLUICE_WARNINGS})
sluice_mysql_test(mysql_client_login TIMEOUT 60
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/client_login_test.py $<TARGET_FILE:sluice_mysql_login_server_probe>)

# The MySQL server connection and pool (backends/mysql/server_connection, pool_protocol) on Asio against
# the primary: lend, query, reuse, KILL found by idle_and_healthy and replaced, pool_timeout 1040/08004,
# ed25519, refused logins (1045, unknown database), with and without CLIENT_DEPRECATE_EOF, COM_QUIT.
add_executable(sluice_mysql_server_pool_probe ${CMAKE_CURRENT_LIST_DIR}/server_pool_probe.cpp)
target_link_libraries(sluice_mysql_server_pool_probe PRIVATE sluice_backends)
target_compile_options(sluice_mysql_server_pool_probe PRIVATE ${SLUICE_WARNINGS})
sluice_mysql_test(mysql_server_pool TIMEOUT 90
    COMMAND bash -c "source <(integration/mariadb_sandbox.sh env) && exec \"$0\"" $<TARGET_FILE:sluice_mysql_server_pool_probe>)

# MySQL clients through sluice's MySQL front end (router/mysql/client_session): PyMySQL and the mariadb
# CLI log in, reads on the replicas, writes and transactions on the primary, session variables and the
# schema follow the client across pooled server connections (and not to other clients), user
# variables pin, server connections shared, 1045 for wrong passwords. Starts its own sluice.
sluice_mysql_test(mysql_proxy TIMEOUT 120
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/proxy_test.py)

# Issue 12's client list through sluice (clients_test.py, one test per client; each starts its own sluice):
# mysqldump --single-transaction and a restore (checksums equal), sysbench (16 threads over pool_size 4,
# text and prepared), node's mysql2 (32 clients over pool_size 8: execute() and query(); mysql2 from
# integration/install-deps.sh), Connector/C++ (Statement and PreparedStatement), and reads while a replica
# of a private sandbox stops and comes back.
sluice_mysql_test(mysql_clients_dump TIMEOUT 90
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/clients_test.py dump)
sluice_mysql_test(mysql_clients_sysbench TIMEOUT 120
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/clients_test.py sysbench)
sluice_mysql_test(mysql_clients_mysql2 TIMEOUT 120
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/clients_test.py mysql2)
sluice_mysql_test(mysql_clients_replica_stop TIMEOUT 120
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/clients_test.py replica_stop)
if(MYSQLCPPCONN_INCLUDE_DIR AND MYSQLCPPCONN_LIBRARY)
  add_executable(sluice_cppconn_proxy_client ${CMAKE_CURRENT_LIST_DIR}/cppconn_proxy_client.cpp)
  target_include_directories(sluice_cppconn_proxy_client SYSTEM PRIVATE ${MYSQLCPPCONN_INCLUDE_DIR})
  target_link_libraries(sluice_cppconn_proxy_client PRIVATE ${MYSQLCPPCONN_LIBRARY} Boost::headers)
  target_compile_features(sluice_cppconn_proxy_client PRIVATE cxx_std_20)
  target_compile_options(sluice_cppconn_proxy_client PRIVATE ${SLUICE_WARNINGS})
  sluice_mysql_test(mysql_clients_cppconn TIMEOUT 90
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/clients_test.py cppconn $<TARGET_FILE:sluice_cppconn_proxy_client>)
endif()

# Prepared statements across pooled server connections (shared, lazily prepared, types re-sent, evicted,
# long data, cursors), COM_SET_OPTION, COM_CHANGE_USER and COM_PROCESS_KILL through sluice with
# libmariadb's C API (libmariadb-dev, from integration/install-deps.sh); KILL QUERY from PyMySQL and
# Ctrl-C in the mariadb CLI. Starts its own sluice (one server connection per backend).
find_path(MARIADB_CLIENT_INCLUDE_DIR mysql.h PATH_SUFFIXES mariadb)
find_library(MARIADB_CLIENT_LIBRARY mariadb)
if(MARIADB_CLIENT_INCLUDE_DIR AND MARIADB_CLIENT_LIBRARY)
  add_executable(sluice_mysql_statements_probe ${CMAKE_CURRENT_LIST_DIR}/statements_probe.cpp)
  target_include_directories(sluice_mysql_statements_probe SYSTEM PRIVATE ${MARIADB_CLIENT_INCLUDE_DIR})
  target_link_libraries(sluice_mysql_statements_probe PRIVATE ${MARIADB_CLIENT_LIBRARY})
  target_compile_options(sluice_mysql_statements_probe PRIVATE ${SLUICE_WARNINGS})
  sluice_mysql_test(mysql_statements TIMEOUT 180
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/statements_test.py $<TARGET_FILE:sluice_mysql_statements_probe>)
else()
  message(STATUS "libmariadb-dev not found (run integration/install-deps.sh): test mysql_statements not built")
endif()
