// `sluicectl drill`: a canary workload through the proxy while a switchover (and optionally back)
// runs, then a report of what clients saw. See docs/operations.md.
#pragma once

#include <string>
#include <vector>

#include "router/ctl/admin_client.hpp"

namespace sluice::ctl {

// `args`: the words after "drill" (flags such as --switchover-to NAME, --and-back, --duration 30s,
// --dsn ...). Returns the process exit code: 0 drill passed, 1 failed (lost writes, errors), 2 usage.
int run_drill(const admin_endpoint& admin, const std::vector<std::string>& args, bool json);

}  // namespace sluice::ctl
