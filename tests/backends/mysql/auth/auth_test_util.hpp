// Helpers of the MySQL login state machine tests: packets split out of an output buffer, a fixed RNG,
// an in-memory user table, and a loopback that runs server_login (sluice toward a backend) against
// client_login (sluice toward a client) until both stop.
#pragma once

#include "backends/mysql/auth/caching_sha2.hpp"
#include "backends/mysql/auth/client_login.hpp"
#include "backends/mysql/auth/ed25519.hpp"
#include "backends/mysql/auth/native_password.hpp"
#include "backends/mysql/auth/server_login.hpp"

#include "tests/backends/mysql/wire/wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

namespace sluice::backends::mysql::auth::test {

using wire::byte_buffer;
using wire::bytes_view;

// One packet copied out of an output buffer.
struct packet {
  std::uint8_t seq = 0;
  byte_buffer payload;
};

inline std::vector<packet> split(const byte_buffer& out) {
  std::vector<packet> packets;
  bytes_view rest(out.data(), out.size());
  while (!rest.empty()) {
    const auto framed = wire::frame_message(rest, 1 << 24);
    REQUIRE(framed.status == wire::codec_errc::ok);
    packets.push_back({framed.message.first_sequence_id,
                       byte_buffer(framed.message.payload().begin(), framed.message.payload().end())});
    rest = rest.subspan(framed.message.wire.size());
  }
  return packets;
}

inline std::vector<packet> take(byte_buffer& out) {
  auto packets = split(out);
  out.clear();
  return packets;
}

inline bytes_view view(const byte_buffer& b) { return {b.data(), b.size()}; }
inline bytes_view view(const packet& p) { return {p.payload.data(), p.payload.size()}; }

// Deterministic "random" bytes: 0x41, 0x42, ... continuing across calls.
struct counting_random {
  std::uint8_t next = 0x41;
  bool operator()(std::span<std::uint8_t> out) {
    for (auto& b : out) b = next++;
    return true;
  }
};

struct user_table : credential_lookup {
  std::map<std::string, client_credential, std::less<>> users;
  const client_credential* find(std::string_view user) const override {
    const auto it = users.find(user);
    return it == users.end() ? nullptr : &it->second;
  }
};

inline client_credential cleartext(std::string password) {
  client_credential c;
  c.password = std::move(password);
  return c;
}
inline client_credential native_hash(std::string_view password) {
  client_credential c;
  c.native_stage2 = parse_native_password_hash(native_password_hash(password));
  REQUIRE(c.native_stage2);
  return c;
}
inline client_credential sha2_only(std::string_view password) {
  client_credential c;
  sha256_digest d{};
  REQUIRE(caching_sha2_digest(password, d));
  c.sha2_digest = d;
  return c;
}

inline client_credential ed25519_only(std::string_view password) {
  client_credential c;
  const auto key = parse_mariadb_ed25519_stored(mariadb_ed25519_stored(password));
  REQUIRE(key);
  c.ed25519_key = *key;
  return c;
}

inline client_login_params test_client_params(bool tls = false) {
  client_login_params p;
  p.thread_id = 4242;
  p.tls_available = tls;
  p.random = counting_random{};
  return p;
}

inline server_login_params test_server_params(std::string user, std::string password, bool tls = false) {
  server_login_params p;
  p.user = std::move(user);
  p.password = std::move(password);
  p.database = "appdb";
  p.tls = tls;
  return p;
}

// The result of a loopback login: both machines' last steps and the packets each side sent, in order.
struct loopback_result {
  server_login::step backend_side = server_login::step::read;  // sluice-as-client's last step
  client_login::step front_side = client_login::step::read;    // sluice-as-server's last step
  std::vector<packet> to_client;  // what client_login sent (greeting, switch, more data, OK/ERR)
  std::vector<packet> to_server;  // what server_login sent (SSLRequest, response, auth data)
  bool tls_started = false;
};

// Runs `sl` against `cl` until one stops; the wire in between is the real byte stream.
inline loopback_result loopback(server_login& sl, client_login& cl) {
  using sstep = server_login::step;
  using cstep = client_login::step;
  loopback_result r;
  byte_buffer from_front, from_back;
  r.front_side = cl.start(from_front);
  for (int round = 0; round < 20; ++round) {
    for (auto& p : take(from_front)) {
      r.to_client.push_back(p);
      r.backend_side = sl.on_packet(p.seq, view(p), from_back);
      if (r.backend_side == sstep::done || r.backend_side == sstep::failed) break;
    }
    if (r.backend_side == sstep::done || r.backend_side == sstep::failed) break;
    if (r.backend_side == sstep::start_tls) {
      for (auto& p : take(from_back)) {
        r.to_server.push_back(p);
        r.front_side = cl.on_packet(p.seq, view(p), from_front);
      }
      REQUIRE(r.front_side == cstep::start_tls);
      r.tls_started = true;
      r.backend_side = sl.continue_after_tls(from_back);
    }
    if (from_back.empty()) break;
    for (auto& p : take(from_back)) {
      r.to_server.push_back(p);
      r.front_side = cl.on_packet(p.seq, view(p), from_front);
      if (r.front_side == cstep::authenticated || r.front_side == cstep::refused) break;
    }
  }
  return r;
}

}  // namespace sluice::backends::mysql::auth::test
