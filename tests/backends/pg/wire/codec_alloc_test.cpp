// PostgreSQL wire codec on the hot path allocates nothing: framing and decoding a large batch, and
// encoding into a buffer that already has the capacity. Counted with a replacement global operator new.
//
// The counting replacement (tests/support/counting_allocator.hpp) covers the whole sluice_wire_tests
// binary; it only counts and forwards to malloc/free, so Catch2 and the other tests are unaffected.
#include "codec_test_util.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "tests/support/counting_allocator.hpp"

using namespace sluice::backends::pg::wire;
using namespace sluice::backends::pg::wire::test;

namespace {

constexpr std::size_t max_size = 1 << 20;

std::size_t allocations() { return sluice::testing::allocations_so_far(); }

// Frames and decodes every message in `wire` the way a session would, folding what it sees into a
// checksum so nothing is optimised away. Counts messages that decoded.
struct walk_result {
  std::size_t messages = 0;
  std::size_t decoded = 0;
  std::size_t checksum = 0;
  bool clean = true;  // every message framed and decoded
};

walk_result walk_typed(bytes_view wire) {
  walk_result r;
  while (!wire.empty()) {
    const auto framed = frame_message(wire, max_size);
    if (framed.status != frame_status::ok) {
      r.clean = false;
      break;
    }
    const auto& m = framed.message;
    const auto& p = m.payload;
    ++r.messages;
    bool ok = true;
    switch (m.type) {
      case be::error_response:  // also fe::execute ('E'); this stream has only backend 'E's
      case be::notice_response:
        ok = for_each_error_field(p, [&](char code, std::string_view value) { r.checksum += code + value.size(); });
        r.checksum += error_sqlstate(p).size();
        break;
      case be::authentication:
        if (const auto a = decode_authentication(p)) r.checksum += a->data.size(); else ok = false;
        break;
      case be::parameter_status:  // also fe::sync ('S'), empty payload
        if (p.empty()) break;
        if (const auto s = decode_parameter_status(p)) r.checksum += s->name.size() + s->value.size(); else ok = false;
        break;
      case be::backend_key_data:
        if (const auto k = decode_backend_key_data(p)) r.checksum += static_cast<std::size_t>(k->process_id); else ok = false;
        break;
      case be::ready_for_query:
        if (const auto z = decode_ready_for_query(p)) r.checksum += static_cast<std::size_t>(*z); else ok = false;
        break;
      case be::command_complete:  // also fe::close ('C')
        if (const auto c = decode_command_complete(p)) r.checksum += c->size();
        else if (const auto t = decode_close(p)) r.checksum += t->name.size();
        else ok = false;
        break;
      case fe::password:
        if (const auto s = decode_sasl_initial_response(p)) r.checksum += s->data.size();
        else if (const auto q = decode_query(p)) r.checksum += q->size();
        else r.checksum += p.size();  // SASLResponse: opaque
        break;
      case fe::query:
        if (const auto q = decode_query(p)) r.checksum += q->size(); else ok = false;
        break;
      case fe::parse:
        if (const auto pm = decode_parse(p)) r.checksum += pm->query.size() + pm->parameter_types.size(); else ok = false;
        break;
      case fe::bind:
        if (const auto b = decode_bind(p)) r.checksum += b->rest.size(); else ok = false;
        break;
      case fe::describe:
        if (const auto d = decode_describe(p)) r.checksum += d->name.size(); else ok = false;
        break;
      default:
        r.checksum += p.size();
        break;
    }
    if (ok) ++r.decoded;
    else r.clean = false;
    wire = wire.subspan(m.wire_size);
  }
  return r;
}

}  // namespace

TEST_CASE("allocation counter sees allocations", "[wire][alloc]") {
  // Guards the tests below against a counter that is silently not installed.
  const std::size_t before = allocations();
  byte_buffer out;
  encode_query(out, "SELECT 1");
  void* raw = ::operator new(16);
  ::operator delete(raw);
  CHECK(allocations() - before >= 2);
}

TEST_CASE("framing and decoding a large batch allocates nothing", "[wire][alloc]") {
  byte_buffer wire;
  std::size_t expected = 0;
  for (int round = 0; round < 500; ++round) {
    for (const auto* s : typed_samples()) {
      s->encode(wire);
      ++expected;
    }
  }
  walk_typed(wire);  // warm-up (nothing to warm, but keeps the measured run honest)

  const std::size_t before = allocations();
  const walk_result r = walk_typed(wire);
  const std::size_t during = allocations() - before;

  CHECK(during == 0);
  CHECK(r.clean);
  CHECK(r.messages == expected);
  CHECK(r.decoded == expected);
  CHECK(r.checksum != 0);
}

TEST_CASE("framing and decoding startup packets allocates nothing", "[wire][alloc]") {
  byte_buffer wire;
  for (int round = 0; round < 500; ++round)
    for (const auto* s : startup_samples()) s->encode(wire);

  const std::size_t before = allocations();
  std::size_t packets = 0;
  std::size_t checksum = 0;
  bool clean = true;
  bytes_view rest(wire);
  while (!rest.empty()) {
    const auto framed = frame_startup(rest, max_size);
    if (framed.status != frame_status::ok) {
      clean = false;
      break;
    }
    ++packets;
    const auto& p = framed.packet;
    if (p.code == protocol_v3) {
      clean &= for_each_startup_parameter(p.payload, [&](std::string_view name, std::string_view value) {
        checksum += name.size() + value.size();
      });
    } else if (p.code == cancel_request_code) {
      const auto c = decode_cancel_request(p.payload);
      clean &= c.has_value();
      if (c) checksum += static_cast<std::size_t>(c->secret_key);
    }
    rest = rest.subspan(p.wire_size);
  }
  const std::size_t during = allocations() - before;

  CHECK(during == 0);
  CHECK(clean);
  CHECK(packets == 500 * startup_samples().size());
  CHECK(checksum != 0);
}

TEST_CASE("encoding into a buffer with enough capacity allocates nothing", "[wire][alloc]") {
  // Inputs are built before counting; the encoders are called directly (no std::function).
  const std::array<std::string_view, 2> mechanisms{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
  const std::array<startup_parameter, 2> parameters{{{"user", "alice"}, {"database", "app"}}};
  const byte_buffer salt = bytes_of({1, 2, 3, 4});
  const byte_buffer types = bytes_of({0, 0, 0, 23});
  const byte_buffer rest = bytes_of({0, 0, 0, 1, 0, 0, 0, 1, '7', 0, 0});
  const std::string long_sql(4000, 's');

  const auto encode_all = [&](byte_buffer& out) {
    encode_error_response(out, "ERROR", "57014", "canceling statement due to user request");
    encode_notice_response(out, "NOTICE", "00000", "hello");
    encode_authentication(out, auth_code::ok);
    encode_authentication(out, auth_code::md5_password, salt);
    encode_auth_sasl_mechanisms(out, mechanisms);
    encode_parameter_status(out, "server_version", "15.5");
    encode_backend_key_data(out, 1, 2);
    encode_ready_for_query(out, tx_status::idle);
    encode_parse_complete(out);
    encode_bind_complete(out);
    encode_close_complete(out);
    encode_command_complete(out, "SELECT 1");
    encode_startup_message(out, parameters);
    encode_cancel_request(out, 1, 2);
    encode_ssl_request(out);
    encode_password_message(out, "pw");
    encode_sasl_initial_response(out, "SCRAM-SHA-256", salt);
    encode_sasl_response(out, salt);
    encode_query(out, long_sql);
    encode_parse(out, "s", "SELECT $1", 1, types);
    encode_bind(out, "", "s", rest);
    encode_describe(out, 'S', "s");
    encode_close(out, 'P', "");
    encode_sync(out);
    encode_terminate(out);
  };

  SECTION("reserved up front") {
    byte_buffer out;
    out.reserve(64 * 1024);
    const std::size_t before = allocations();
    for (int i = 0; i < 10; ++i) encode_all(out);
    const std::size_t during = allocations() - before;
    CHECK(during == 0);
    CHECK(out.size() > 40000);
  }
  SECTION("reused after clear(): warm-up grows it once, then nothing") {
    byte_buffer out;
    encode_all(out);  // warm-up: grows the buffer
    const std::size_t before = allocations();
    for (int i = 0; i < 1000; ++i) {
      out.clear();
      encode_all(out);
    }
    const std::size_t during = allocations() - before;
    CHECK(during == 0);
  }
}
