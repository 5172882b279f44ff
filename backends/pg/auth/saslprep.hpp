// SASLprep (RFC 4013, a stringprep profile of RFC 3454) for SCRAM passwords, applied the way
// PostgreSQL applies it (pg_saslprep in src/common/saslprep.c and its callers), so that a password
// hashes here exactly as it does in the server and in libpq.
#pragma once

#include <string>
#include <string_view>

namespace sluice::backends::pg::auth {

// The bytes to feed to SCRAM's Hi() for `password`:
//   - pure ASCII: unchanged;
//   - not valid UTF-8: unchanged;
//   - otherwise: non-ASCII spaces (RFC 3454 C.1.2) become U+0020, "commonly mapped to nothing"
//     code points (B.1) are removed, the result is NFKC-normalized; if the mapped string is empty
//     or holds a prohibited (C.1.2, C.2.1, C.2.2, C.3-C.9) or unassigned (A.1) code point, or breaks
//     the bidi rules (RFC 3454 section 6), the ORIGINAL password is returned unchanged, as
//     PostgreSQL does (it falls back to the raw bytes rather than refuse the password).
// Never throws (an allocation failure terminates, as for any std::string on the control path).
std::string saslprep(std::string_view password) noexcept;

}  // namespace sluice::backends::pg::auth
