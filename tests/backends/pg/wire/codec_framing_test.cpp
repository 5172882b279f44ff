// PostgreSQL wire framing: every message split at every byte, many messages in one buffer, a simulated
// read buffer fed in chunks of every size, and impossible or oversized length fields.
#include "codec_test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <tuple>
#include <algorithm>
#include <string>
#include <vector>

using namespace sluice::backends::pg::wire;
using namespace sluice::backends::pg::wire::test;

namespace {

constexpr std::size_t max_size = 1 << 20;

// What framing one typed message yields, copied out of the buffer.
struct framed_copy {
  char type = 0;
  std::vector<std::uint8_t> payload;
  std::size_t wire_size = 0;
  bool operator==(const framed_copy&) const = default;
};

framed_copy copy_of(const message_view& m) { return {m.type, to_vector(m.payload), m.wire_size}; }

// All typed samples back to back, and what framing each yields.
struct stream {
  byte_buffer wire;
  std::vector<framed_copy> expected;
};

stream typed_stream(std::size_t repeat) {
  stream s;
  for (std::size_t r = 0; r < repeat; ++r) {
    for (const auto* smp : typed_samples()) {
      const byte_buffer one = encode_sample(*smp);
      const auto framed = frame_message(as_bytes(one), max_size);
      REQUIRE(framed.status == frame_status::ok);
      s.expected.push_back(copy_of(framed.message));
      s.wire.insert(s.wire.end(), one.begin(), one.end());
    }
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Split at every byte.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("typed message split at every byte", "[wire][frame][split]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  if (s.startup) return;  // covered below
  const byte_buffer wire = encode_sample(s);
  const std::size_t split = GENERATE_COPY(range(std::size_t{0}, wire.size()));
  INFO(s.name << " split at " << split << " of " << wire.size());

  // A prefix is never enough; once the header is in, `needed` is the total.
  const auto partial = frame_message(bytes_view(wire).first(split), max_size);
  CHECK(partial.status == frame_status::need_more);
  CHECK(partial.needed == (split < typed_header_size ? 0 : wire.size()));

  // The rest arriving later in the same (growing) buffer completes it.
  byte_buffer buffer(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(split));
  buffer.insert(buffer.end(), wire.begin() + static_cast<std::ptrdiff_t>(split), wire.end());
  const auto whole = frame_message(as_bytes(buffer), max_size);
  REQUIRE(whole.status == frame_status::ok);
  CHECK(whole.message.wire_size == wire.size());
  CHECK(whole.message.type == static_cast<char>(wire[0]));
  CHECK(to_vector(whole.message.payload) == byte_buffer(wire.begin() + typed_header_size, wire.end()));
}

TEST_CASE("startup packet split at every byte", "[wire][frame][split]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  if (!s.startup) return;
  const byte_buffer wire = encode_sample(s);
  const std::size_t split = GENERATE_COPY(range(std::size_t{0}, wire.size()));
  INFO(s.name << " split at " << split << " of " << wire.size());

  // The length is known after 4 bytes, so `needed` is the total from then on.
  const auto partial = frame_startup(bytes_view(wire).first(split), max_size);
  CHECK(partial.status == frame_status::need_more);
  CHECK(partial.needed == (split < 4 ? 0 : wire.size()));

  const auto whole = frame_startup(as_bytes(wire), max_size);
  REQUIRE(whole.status == frame_status::ok);
  CHECK(whole.packet.wire_size == wire.size());
}

TEST_CASE("a long message split at every 97th byte", "[wire][frame][split]") {
  byte_buffer wire;
  encode_query(wire, std::string(20000, 'q'));
  for (std::size_t split = 0; split < wire.size(); split += 97) {
    const auto partial = frame_message(bytes_view(wire).first(split), max_size);
    REQUIRE(partial.status == frame_status::need_more);
    REQUIRE(partial.needed == (split < typed_header_size ? 0 : wire.size()));
  }
  REQUIRE(frame_message(as_bytes(wire), max_size).status == frame_status::ok);
}

// ---------------------------------------------------------------------------------------------------
// Several messages in one buffer.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("two messages in one buffer frame one after the other", "[wire][frame][batch]") {
  const auto first = GENERATE(range(std::size_t{0}, typed_sample_count()));
  const auto second = GENERATE(range(std::size_t{0}, typed_sample_count()));
  const auto typed = typed_samples();
  const byte_buffer a = encode_sample(*typed[first]);
  const byte_buffer b = encode_sample(*typed[second]);
  const byte_buffer both = concat({a, b});
  INFO(typed[first]->name << " then " << typed[second]->name);

  const auto one = frame_message(as_bytes(both), max_size);
  REQUIRE(one.status == frame_status::ok);
  REQUIRE(one.message.wire_size == a.size());
  CHECK(one.message.type == static_cast<char>(a[0]));
  const auto two = frame_message(bytes_view(both).subspan(one.message.wire_size), max_size);
  REQUIRE(two.status == frame_status::ok);
  REQUIRE(two.message.wire_size == b.size());
  CHECK(two.message.type == static_cast<char>(b[0]));
  CHECK(one.message.wire_size + two.message.wire_size == both.size());

  // The second message cut anywhere: the first still frames, the second needs more.
  for (std::size_t cut = a.size(); cut < both.size(); ++cut) {
    const bytes_view head = bytes_view(both).first(cut);
    REQUIRE(frame_message(head, max_size).status == frame_status::ok);
    const auto rest = frame_message(head.subspan(a.size()), max_size);
    REQUIRE(rest.status == frame_status::need_more);
  }
}

TEST_CASE("many messages in one buffer", "[wire][frame][batch]") {
  const stream s = typed_stream(50);
  std::vector<framed_copy> got;
  bytes_view rest(s.wire);
  while (!rest.empty()) {
    const auto framed = frame_message(rest, max_size);
    REQUIRE(framed.status == frame_status::ok);
    got.push_back(copy_of(framed.message));
    rest = rest.subspan(framed.message.wire_size);
  }
  CHECK(got == s.expected);
}

TEST_CASE("stream fed to a compacting read buffer in chunks of every size", "[wire][frame][batch]") {
  // One read buffer, appended to as bytes "arrive" and compacted after each framed message, as a
  // connection's read loop would do.
  const stream s = typed_stream(3);
  const std::size_t chunk = GENERATE(range(std::size_t{1}, std::size_t{40}), std::size_t{1000}, std::size_t{1} << 20);
  INFO("chunk " << chunk);
  byte_buffer buffer;
  std::vector<framed_copy> got;
  std::size_t fed = 0;
  while (fed < s.wire.size() || !buffer.empty()) {
    const auto framed = frame_message(as_bytes(buffer), max_size);
    if (framed.status == frame_status::ok) {
      got.push_back(copy_of(framed.message));
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(framed.message.wire_size));
      continue;
    }
    REQUIRE(framed.status == frame_status::need_more);
    REQUIRE(fed < s.wire.size());
    if (framed.needed != 0) REQUIRE(framed.needed > buffer.size());
    const std::size_t n = std::min(chunk, s.wire.size() - fed);
    buffer.insert(buffer.end(), s.wire.begin() + static_cast<std::ptrdiff_t>(fed),
                  s.wire.begin() + static_cast<std::ptrdiff_t>(fed + n));
    fed += n;
  }
  CHECK(got == s.expected);
}

TEST_CASE("startup packets followed by typed messages", "[wire][frame][batch]") {
  // SSLRequest, then (after 'N') StartupMessage, then the client's PasswordMessage, all in one buffer.
  const std::array<startup_parameter, 1> parameters{{{"user", "u"}}};
  byte_buffer wire;
  encode_ssl_request(wire);
  encode_startup_message(wire, parameters);
  encode_password_message(wire, "pw");
  encode_terminate(wire);

  bytes_view rest(wire);
  const auto ssl = frame_startup(rest, max_size);
  REQUIRE(ssl.status == frame_status::ok);
  CHECK(ssl.packet.code == ssl_request_code);
  rest = rest.subspan(ssl.packet.wire_size);

  const auto startup = frame_startup(rest, max_size);
  REQUIRE(startup.status == frame_status::ok);
  CHECK(startup.packet.code == protocol_v3);
  int seen = 0;
  CHECK(for_each_startup_parameter(startup.packet.payload, [&](std::string_view name, std::string_view value) {
    CHECK(name == "user");
    CHECK(value == "u");
    ++seen;
  }));
  CHECK(seen == 1);
  rest = rest.subspan(startup.packet.wire_size);

  const auto password = frame_message(rest, max_size);
  REQUIRE(password.status == frame_status::ok);
  CHECK(password.message.type == fe::password);
  CHECK(decode_query(password.message.payload) == std::optional<std::string_view>("pw"));
  rest = rest.subspan(password.message.wire_size);

  const auto terminate = frame_message(rest, max_size);
  REQUIRE(terminate.status == frame_status::ok);
  CHECK(terminate.message.type == fe::terminate);
  CHECK(terminate.message.wire_size == rest.size());
}

// ---------------------------------------------------------------------------------------------------
// Impossible and oversized lengths.
// ---------------------------------------------------------------------------------------------------

TEST_CASE("frame_message: empty and header-only buffers need more", "[wire][frame][length]") {
  const byte_buffer header = bytes_of({'Q', 0, 0, 0, 9});
  for (std::size_t n = 0; n < typed_header_size; ++n) {
    const auto r = frame_message(bytes_view(header).first(n), max_size);
    CHECK(r.status == frame_status::need_more);
    CHECK(r.needed == 0);
  }
  const auto r = frame_message(as_bytes(header), max_size);
  CHECK(r.status == frame_status::need_more);
  CHECK(r.needed == 10);
}

TEST_CASE("frame_message: length below 4 is bad_length", "[wire][frame][length]") {
  const int length = GENERATE(0, 1, 2, 3);
  const byte_buffer wire = bytes_of({'Q', 0, 0, 0, length, 'x', 'y', 'z', 0});
  CHECK(frame_message(as_bytes(wire), max_size).status == frame_status::bad_length);
}

TEST_CASE("frame_message: length 4 is an empty payload", "[wire][frame][length]") {
  const byte_buffer wire = bytes_of({'S', 0, 0, 0, 4, 'Z'});
  const auto r = frame_message(as_bytes(wire), max_size);
  REQUIRE(r.status == frame_status::ok);
  CHECK(r.message.type == 'S');
  CHECK(r.message.payload.empty());
  CHECK(r.message.wire_size == 5);
}

TEST_CASE("frame_message: size limit is on the whole message", "[wire][frame][length]") {
  byte_buffer wire;
  encode_query(wire, std::string(100, 'a'));  // 106 bytes on the wire
  REQUIRE(wire.size() == 106);
  CHECK(frame_message(as_bytes(wire), 106).status == frame_status::ok);
  const auto over = frame_message(as_bytes(wire), 105);
  CHECK(over.status == frame_status::too_large);
  CHECK(over.needed == 106);
  // too_large is reported from the header alone, before the body arrives.
  CHECK(frame_message(bytes_view(wire).first(typed_header_size), 105).status == frame_status::too_large);
  CHECK(frame_message(bytes_view(wire).first(typed_header_size), 106).status == frame_status::need_more);
}

TEST_CASE("frame_message: huge lengths do not overflow", "[wire][frame][length]") {
  const auto [b0, b1, b2, b3, total] = GENERATE(std::tuple{0xff, 0xff, 0xff, 0xff, std::uint64_t{0x100000000}},
                                                std::tuple{0x7f, 0xff, 0xff, 0xff, std::uint64_t{0x80000000}},
                                                std::tuple{0x80, 0x00, 0x00, 0x00, std::uint64_t{0x80000001}},
                                                std::tuple{0xff, 0xff, 0xff, 0xfb, std::uint64_t{0xfffffffc}});
  const byte_buffer wire = bytes_of({'D', b0, b1, b2, b3, 1, 2, 3});
  const auto limited = frame_message(as_bytes(wire), max_size);
  CHECK(limited.status == frame_status::too_large);
  CHECK(limited.needed == total);
  const auto unlimited = frame_message(as_bytes(wire), std::numeric_limits<std::size_t>::max());
  CHECK(unlimited.status == frame_status::need_more);
  CHECK(unlimited.needed == total);
}

TEST_CASE("frame_startup: length below 8 is bad_length", "[wire][frame][length]") {
  const int length = GENERATE(range(0, 8));
  const byte_buffer wire = bytes_of({0, 0, 0, length, 0, 3, 0, 0, 0, 0});
  const auto r = frame_startup(as_bytes(wire), max_size);
  CHECK(r.status == frame_status::bad_length);
  // Even with only the length field present.
  CHECK(frame_startup(bytes_view(wire).first(4), max_size).status == frame_status::bad_length);
}

TEST_CASE("frame_startup: short buffers need more", "[wire][frame][length]") {
  const byte_buffer wire = bytes_of({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
  for (std::size_t n = 0; n < 4; ++n) {
    const auto r = frame_startup(bytes_view(wire).first(n), max_size);
    CHECK(r.status == frame_status::need_more);
    CHECK(r.needed == 0);
  }
  for (std::size_t n = 4; n < 8; ++n) {
    const auto r = frame_startup(bytes_view(wire).first(n), max_size);
    CHECK(r.status == frame_status::need_more);
    CHECK(r.needed == 8);
  }
}

TEST_CASE("frame_startup: size limit and huge lengths", "[wire][frame][length]") {
  const std::array<startup_parameter, 1> parameters{{{"user", "postgres"}}};
  byte_buffer wire;
  encode_startup_message(wire, parameters);
  CHECK(frame_startup(as_bytes(wire), wire.size()).status == frame_status::ok);
  const auto over = frame_startup(as_bytes(wire), wire.size() - 1);
  CHECK(over.status == frame_status::too_large);
  CHECK(over.needed == wire.size());

  const byte_buffer huge = bytes_of({0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0});
  const auto limited = frame_startup(as_bytes(huge), 10000);
  CHECK(limited.status == frame_status::too_large);
  CHECK(limited.needed == 0xffffffffu);
  const auto unlimited = frame_startup(as_bytes(huge), std::numeric_limits<std::size_t>::max());
  CHECK(unlimited.status == frame_status::need_more);
  CHECK(unlimited.needed == 0xffffffffu);
}

TEST_CASE("frame_message: any type byte is framed; type is not validated", "[wire][frame]") {
  const int type = GENERATE(0, 0x7f, 0x80, 0xff);
  const byte_buffer wire = bytes_of({type, 0, 0, 0, 4});
  const auto r = frame_message(as_bytes(wire), max_size);
  REQUIRE(r.status == frame_status::ok);
  CHECK(r.message.type == static_cast<char>(type));
}
