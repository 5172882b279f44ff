// The open-file budget: sluice raises its soft RLIMIT_NOFILE to the hard limit at start, and derives
// how many clients fit beside the server connections, probes and the admin API, so that clients past
// it get 53300 instead of accept() failing with EMFILE and leaving them hanging.
#pragma once

#include <cstdint>
#include <string>

#include "router/config/config.hpp"

namespace sluice::router {

struct open_file_budget {
  std::uint64_t open_files = 0;  // the soft limit in force
  std::uint64_t servers = 0;     // backends x the sum over users of their pool size
  std::uint64_t reserved = 0;    // servers, plus probes, switchover, workers' own descriptors, margin
  std::uint64_t clients = 0;     // what is left for clients (0 when nothing is)
};

// Pure: the budget for `open_files` descriptors with `cfg` (workers: the number actually started).
open_file_budget client_budget(std::uint64_t open_files, const config::config& cfg, unsigned workers);

// Raises the soft RLIMIT_NOFILE to the hard limit (capped by /proc/sys/fs/nr_open when the hard
// limit is unlimited). Returns the soft limit in force afterwards; `problem` says why it could not be
// raised, if it could not.
std::uint64_t raise_open_file_limit(std::string& problem);

}  // namespace sluice::router
