// The PostgreSQL pool: basic_server_pool compiled once for pg::server_connection.
#include "backends/pg/pool_protocol.hpp"

#include "backends/pool/server_pool_impl.hpp"

namespace sluice::backends::pool {
template class basic_server_pool<pg::pool_protocol>;
}  // namespace sluice::backends::pool
