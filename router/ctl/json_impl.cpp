// Boost.JSON, header-only: its implementation is compiled here, once for sluicectl (the other files,
// drill.cpp included, include <boost/json.hpp> only).
#include <boost/json/src.hpp>
