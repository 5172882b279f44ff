// Resident memory and malloc_trim (see process_memory.hpp).
#include "router/process_memory.hpp"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

namespace sluice::router {

std::optional<std::uint64_t> resident_memory_bytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page <= 0) return std::nullopt;
  return resident * static_cast<std::uint64_t>(page);
}

void release_free_memory() { ::malloc_trim(0); }

}  // namespace sluice::router
