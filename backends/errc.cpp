// The sluice error category: messages for sluice::errc.
#include "backends/errc.hpp"

namespace sluice {
namespace {
class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sluice"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::ok: return "ok";
      case errc::client_read: return "client read failed";
      case errc::client_write: return "client write failed";
      case errc::client_protocol: return "client protocol violation";
      case errc::client_too_large: return "client message too large";
      case errc::client_timeout: return "client startup timed out";
      case errc::client_auth_failed: return "client authentication failed";
      case errc::server_connect: return "server connect failed";
      case errc::server_read: return "server read failed";
      case errc::server_write: return "server write failed";
      case errc::server_protocol: return "server protocol violation";
      case errc::server_auth_failed: return "server authentication failed";
      case errc::server_unsupported_auth: return "server requested unsupported authentication";
      case errc::server_error: return "server refused the connection";
      case errc::server_too_large: return "server message too large";
      case errc::pool_timeout: return "timed out waiting for a server connection";
      case errc::no_backend: return "no backend available";
      case errc::cancelled: return "cancelled";
    }
    return "unknown sluice error";
  }
};
}  // namespace

const boost::system::error_category& sluice_category() noexcept {
  static const category instance;
  return instance;
}
}  // namespace sluice
