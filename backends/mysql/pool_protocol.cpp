// The MySQL pool: basic_server_pool compiled once for mysql::server_connection.
#include "backends/mysql/pool_protocol.hpp"

#include "backends/pool/server_pool_impl.hpp"

namespace sluice::backends::pool {
template class basic_server_pool<mysql::pool_protocol>;
}  // namespace sluice::backends::pool
