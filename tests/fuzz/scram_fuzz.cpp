// libFuzzer target for SCRAM/md5 auth parsing: for any bytes, never crashes, never throws, and what
// parses round-trips. The input is split at its first '\n' into two messages of one exchange.
#include "backends/pg/auth/scram.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace sluice::backends::pg::auth;

constexpr std::string_view fuzz_client_nonce = "fuzzCLIENT";
constexpr std::string_view fuzz_server_nonce = "fuzzSERVER";
// scram_client runs PBKDF2 with the server's i=; skip inputs that ask for more than this so the
// fuzzer spends its time on parsing, not hashing (the cap itself is tested in scram_test.cpp).
constexpr long fuzz_max_iterations = 64;

const scram_verifier& fuzz_verifier() {
  static const scram_verifier verifier = make_scram_verifier("pencil", "fuzzsalt", 2);
  return verifier;
}

// True when every "i=<digits>" in `message` is small enough to hash quickly.
bool iterations_are_cheap(std::string_view message) {
  for (std::size_t at = message.find("i="); at != std::string_view::npos;
       at = message.find("i=", at + 1)) {
    long value = 0;
    for (std::size_t i = at + 2; i < message.size() && message[i] >= '0' && message[i] <= '9';
         ++i) {
      value = value * 10 + (message[i] - '0');
      if (value > fuzz_max_iterations) {
        return false;
      }
    }
  }
  return true;
}

void check(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string_view first = input.substr(0, newline);
  const std::string_view second =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

  // Strict base64: whatever decodes is the canonical encoding of its bytes.
  if (const auto decoded = base64_decode(input)) {
    check(base64_encode(*decoded) == input);
  }

  if (const auto verifier = parse_scram_verifier(input)) {
    const auto again = parse_scram_verifier(format_scram_verifier(*verifier));
    check(again && again->iterations == verifier->iterations && again->salt == verifier->salt &&
          again->stored_key == verifier->stored_key && again->server_key == verifier->server_key);
  }

  // Server: both messages from the input, then a fixed valid first and the input as the final.
  {
    scram_server server(fuzz_verifier(), fuzz_server_nonce);
    if (server.handle_client_first(first)) {
      (void)server.handle_client_final(second);
    }
  }
  {
    scram_server server(fuzz_verifier(), fuzz_server_nonce);
    check(server.handle_client_first("n,,n=,r=fuzzCLIENT").has_value());
    (void)server.handle_client_final(input);
  }

  // Client: server-first and server-final from the input, then a fixed valid server-first and the
  // input as the server-final.
  if (iterations_are_cheap(first)) {
    scram_client client("user", "pencil", fuzz_client_nonce);
    if (client.handle_server_first(first)) {
      (void)client.verify_server_final(second);
    }
  }
  {
    scram_client client("user", "pencil", fuzz_client_nonce);
    check(client.handle_server_first("r=fuzzCLIENTfuzzSERVER,s=ZnV6enNhbHQ=,i=2").has_value());
    (void)client.verify_server_final(input);
  }

  (void)md5_response_from_stored(input, second.substr(0, 4));
  (void)md5_password_response(first, second, input.substr(0, 4));
  return 0;
}
