// MySQL packet framing: every sample whole, split at every byte, back to back, truncated and oversized;
// 16 MiB messages split into chunks and joined again (the exact 0xFFFFFF boundary needs a trailing empty
// chunk); sequence ids checked, wrapped and rewritten in place.
#include "wire_test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

using namespace sluice::backends::mysql::wire;
using namespace sluice::backends::mysql::wire::test;

namespace {

constexpr std::size_t max_size = 1 << 20;

// A deterministic payload of `size` bytes (not all equal, so misplaced chunks show).
byte_buffer pattern(std::size_t size) {
  byte_buffer out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>((i * 131 + i / 251) & 0xff);
  return out;
}

byte_buffer joined(const message_view& m) {
  byte_buffer out;
  append_payload(m, out);
  return out;
}

}  // namespace

TEST_CASE("every sample frames whole and decodes", "[mysql][packet]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  INFO(s.name);
  const byte_buffer wire = encode_sample(s);
  const auto framed = frame_message(view(wire), max_size);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.wire.size() == wire.size());
  CHECK(framed.message.chunk_count == 1);
  CHECK(framed.message.payload_size == wire.size() - packet_header_size);
  CHECK(framed.message.next_sequence_id == static_cast<std::uint8_t>(framed.message.first_sequence_id + 1));
  CHECK(s.decode(framed.message.payload()) == codec_errc::ok);

  const auto one = frame_packet(view(wire));
  REQUIRE(one.status == codec_errc::ok);
  CHECK(one.packet.wire_size == wire.size());
  CHECK(to_vector(one.packet.payload) == to_vector(framed.message.payload()));
}

TEST_CASE("every sample split at every byte", "[mysql][packet][split]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  INFO(s.name);
  const byte_buffer wire = encode_sample(s);
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    INFO("cut at " << cut);
    const bytes_view prefix = view(wire).first(cut);
    const auto framed = frame_message(prefix, max_size);
    REQUIRE(framed.status == codec_errc::need_more);
    CHECK(framed.needed > cut);
    CHECK(framed.needed <= wire.size());
    CHECK(frame_packet(prefix).status == codec_errc::need_more);
    // The second half arrives: framing the whole buffer now succeeds.
    byte_buffer buffer(prefix.begin(), prefix.end());
    buffer.insert(buffer.end(), wire.begin() + static_cast<std::ptrdiff_t>(cut), wire.end());
    const auto whole = frame_message(view(buffer), max_size);
    REQUIRE(whole.status == codec_errc::ok);
    CHECK(s.decode(whole.message.payload()) == codec_errc::ok);
  }
}

TEST_CASE("every sample truncated inside its payload fails or decodes less", "[mysql][packet][truncated]") {
  const auto index = GENERATE(range(std::size_t{0}, samples().size()));
  const auto& s = samples()[index];
  INFO(s.name);
  const byte_buffer wire = encode_sample(s);
  const bytes_view payload = payload_of(wire);
  for (std::size_t size = 0; size < payload.size(); ++size) {
    INFO("payload cut to " << size);
    const codec_errc result = s.decode(payload.first(size));  // never crashes (ASan/UBSan in CI)
    if (s.strict_prefix) CHECK(result != codec_errc::ok);
  }
}

TEST_CASE("all samples back to back in one buffer, fed in chunks of every size", "[mysql][packet][stream]") {
  byte_buffer stream;
  std::vector<std::size_t> sizes;
  for (const auto& s : samples()) {
    const byte_buffer one = encode_sample(s);
    sizes.push_back(one.size() - packet_header_size);
    stream.insert(stream.end(), one.begin(), one.end());
  }
  const auto chunk = GENERATE(range(std::size_t{1}, std::size_t{40}));
  // A simulated read buffer: bytes arrive `chunk` at a time; whole messages are consumed from the front.
  byte_buffer buffer;
  std::size_t fed = 0;
  std::size_t seen = 0;
  while (fed < stream.size() || !buffer.empty()) {
    const std::size_t take = std::min(chunk, stream.size() - fed);
    buffer.insert(buffer.end(), stream.begin() + static_cast<std::ptrdiff_t>(fed),
                  stream.begin() + static_cast<std::ptrdiff_t>(fed + take));
    fed += take;
    for (;;) {
      const auto framed = frame_message(view(buffer), max_size);
      if (framed.status == codec_errc::need_more) break;
      REQUIRE(framed.status == codec_errc::ok);
      REQUIRE(seen < samples().size());
      CHECK(framed.message.payload_size == sizes[seen]);
      CHECK(samples()[seen].decode(framed.message.payload()) == codec_errc::ok);
      ++seen;
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(framed.message.wire.size()));
    }
    if (take == 0) break;
  }
  CHECK(seen == samples().size());
  CHECK(buffer.empty());
}

TEST_CASE("two packets in one buffer frame one at a time", "[mysql][packet]") {
  const byte_buffer wire = concat({from_hex(capture::select_row), from_hex(capture::select_last_eof)});
  const auto first = frame_message(view(wire), max_size);
  REQUIRE(first.status == codec_errc::ok);
  CHECK(first.message.first_sequence_id == 6);
  CHECK(first.message.wire.size() == 9);
  const auto second = frame_message(view(wire).subspan(first.message.wire.size()), max_size);
  REQUIRE(second.status == codec_errc::ok);
  CHECK(second.message.first_sequence_id == 7);
  CHECK(to_vector(second.message.payload()) == to_vector(view(from_hex("fe00000000"))));
}

TEST_CASE("empty packet and a header alone", "[mysql][packet]") {
  const byte_buffer empty = from_hex("00000003");
  const auto framed = frame_message(view(empty), max_size);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.payload_size == 0);
  CHECK(framed.message.payload().empty());
  CHECK(framed.message.first_sequence_id == 3);
  CHECK(frame_message(bytes_view{}, max_size).status == codec_errc::need_more);
  CHECK(frame_message(bytes_view{}, max_size).needed == packet_header_size);
}

TEST_CASE("oversized messages are refused from their header", "[mysql][packet][oversized]") {
  // Header says 1000 bytes; only the header has arrived.
  const byte_buffer header = from_hex("e8030000");
  CHECK(frame_message(view(header), 999).status == codec_errc::packet_too_large);
  CHECK(frame_message(view(header), 999).needed == 1000);
  CHECK(frame_message(view(header), 1000).status == codec_errc::need_more);
  CHECK(frame_message(view(header), 1000).needed == 1004);
  // A maximum-length chunk header alone is refused for any limit below 16 MiB - 1.
  const byte_buffer big = from_hex("ffffff00");
  CHECK(frame_message(view(big), max_packet_payload - 1).status == codec_errc::packet_too_large);
  CHECK(frame_message(view(big), 0).status == codec_errc::packet_too_large);
  // A zero limit still allows empty packets.
  CHECK(frame_message(view(from_hex("00000000")), 0).status == codec_errc::ok);
}

TEST_CASE("16 MiB payloads are split into 0xFFFFFF chunks and joined", "[mysql][packet][large]") {
  const std::size_t size = GENERATE(max_packet_payload - 1, max_packet_payload, max_packet_payload + 1,
                                    2 * max_packet_payload, 2 * max_packet_payload + 7);
  INFO("payload size " << size);
  const byte_buffer payload = pattern(size);
  const std::size_t chunks = size / max_packet_payload + 1;

  byte_buffer wire;
  wire.push_back(0xaa);  // something already in the output buffer stays untouched
  const std::uint8_t next = write_message(wire, view(payload), 254);
  CHECK(next == static_cast<std::uint8_t>(254 + chunks));
  CHECK(wire.size() == 1 + size + chunks * packet_header_size);
  CHECK(wire[0] == 0xaa);
  const bytes_view message = view(wire).subspan(1);

  // Headers: 0xFFFFFF-byte chunks, the last shorter (empty at an exact multiple), ids wrapping past 255.
  std::size_t offset = 0;
  for (std::size_t i = 0; i < chunks; ++i) {
    const auto packet = frame_packet(message.subspan(offset));
    REQUIRE(packet.status == codec_errc::ok);
    const std::size_t expected = i + 1 < chunks ? max_packet_payload : size % max_packet_payload;
    CHECK(packet.packet.payload.size() == expected);
    CHECK(packet.packet.sequence_id == static_cast<std::uint8_t>(254 + i));
    offset += packet.packet.wire_size;
  }
  CHECK(offset == message.size());

  const auto framed = frame_message(message, 3 * max_packet_payload);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.chunk_count == chunks);
  CHECK(framed.message.payload_size == size);
  CHECK(framed.message.wire.size() == message.size());
  CHECK(framed.message.first_sequence_id == 254);
  CHECK(framed.message.next_sequence_id == next);
  CHECK(framed.message.contiguous() == (chunks == 1));
  CHECK(framed.message.first_chunk().size() == std::min(size, max_packet_payload));
  CHECK(joined(framed.message) == payload);
  std::size_t visited = 0;
  for_each_chunk(framed.message, [&](bytes_view chunk) {
    CHECK(std::equal(chunk.begin(), chunk.end(), payload.begin() + static_cast<std::ptrdiff_t>(visited)));
    visited += chunk.size();
  });
  CHECK(visited == size);

  // The limit is on the logical size.
  CHECK(frame_message(message, size).status == codec_errc::ok);
  CHECK(frame_message(message, size - 1).status == codec_errc::packet_too_large);

  // Cut at each chunk boundary and just around it: need_more, with a lower bound beyond the cut.
  for (std::size_t i = 0; i < chunks; ++i) {
    const std::size_t boundary = i * (max_packet_payload + packet_header_size);
    for (const std::size_t cut : {boundary, boundary + 2, boundary + packet_header_size, boundary + packet_header_size + 1}) {
      if (cut >= message.size()) continue;
      const auto partial = frame_message(message.first(cut), 3 * max_packet_payload);
      INFO("cut at " << cut);
      CHECK(partial.status == codec_errc::need_more);
      CHECK(partial.needed > cut);
      CHECK(partial.needed <= message.size());
    }
  }
}

TEST_CASE("exact 0xFFFFFF payload without its trailing empty chunk is incomplete", "[mysql][packet][large]") {
  const byte_buffer payload = pattern(max_packet_payload);
  byte_buffer wire;
  write_message(wire, view(payload), 0);
  REQUIRE(wire.size() == max_packet_payload + 2 * packet_header_size);
  const bytes_view without_trailer = view(wire).first(max_packet_payload + packet_header_size);
  const auto framed = frame_message(without_trailer, 2 * max_packet_payload);
  CHECK(framed.status == codec_errc::need_more);
  CHECK(framed.needed == wire.size());
  // The trailing empty packet: 00 00 00 01.
  CHECK(to_vector(view(wire).last(packet_header_size)) == to_vector(view(from_hex("00000001"))));
}

TEST_CASE("continuation chunks must carry consecutive sequence ids", "[mysql][packet][sequence]") {
  const byte_buffer payload = pattern(max_packet_payload + 10);
  byte_buffer wire;
  write_message(wire, view(payload), 5);
  wire[max_packet_payload + packet_header_size + sequence_id_offset] = 9;  // should be 6
  CHECK(frame_message(view(wire), 2 * max_packet_payload).status == codec_errc::out_of_order);
  // renumber_message repairs it, and renumbers from any start.
  std::uint8_t next = 0;
  REQUIRE(renumber_message(mutable_bytes(wire.data(), wire.size()), 255, next) == codec_errc::ok);
  CHECK(next == 1);
  const auto framed = frame_message(view(wire), 2 * max_packet_payload);
  REQUIRE(framed.status == codec_errc::ok);
  CHECK(framed.message.first_sequence_id == 255);
  CHECK(framed.message.next_sequence_id == 1);
}

TEST_CASE("sequence ids are rewritten in place", "[mysql][packet][sequence]") {
  byte_buffer wire = from_hex(capture::select_row);
  CHECK(sequence_id_of(view(wire)) == 6);
  CHECK(set_sequence_id(mutable_bytes(wire.data(), wire.size()), 1));
  CHECK(sequence_id_of(view(wire)) == 1);
  CHECK(wire == from_hex("050000010131fb0178"));
  std::uint8_t next = 0;
  CHECK(renumber_message(mutable_bytes(wire.data(), wire.size()), 200, next) == codec_errc::ok);
  CHECK(next == 201);
  CHECK(sequence_id_of(view(wire)) == 200);
  // Too short to hold a header, or the whole message: nothing changes.
  byte_buffer three = bytes_of({1, 0, 0});
  CHECK_FALSE(set_sequence_id(mutable_bytes(three.data(), three.size()), 4));
  CHECK(sequence_id_of(view(three)) == 0);
  byte_buffer partial = from_hex("05000006013166");
  CHECK(renumber_message(mutable_bytes(partial.data(), partial.size()), 9, next) == codec_errc::need_more);
  CHECK(partial == from_hex("05000006013166"));
}

TEST_CASE("finish_packet after other packets in the same buffer", "[mysql][packet][encode]") {
  byte_buffer out;
  std::uint8_t seq = encode_query(out, 0, "SELECT 1");
  CHECK(seq == 1);
  const std::size_t header = begin_packet(out);
  payload_writer(out).u8(com_ping);
  seq = finish_packet(out, header, seq);
  CHECK(seq == 2);
  CHECK(out == concat({from_hex("090000000353454c4543542031"), from_hex("010000010e")}));
  // The output buffer is reused: clearing keeps its capacity.
  const std::size_t capacity = out.capacity();
  out.clear();
  encode_query(out, 0, "SELECT 2");
  CHECK(out.capacity() == capacity);
}
