// Boost.JSON, header-only: its implementation is compiled here, once for sluice_admin (other files
// include <boost/json.hpp> only).
#include <boost/json/src.hpp>
