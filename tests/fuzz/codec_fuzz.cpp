// libFuzzer target for the PostgreSQL wire codec: frames arbitrary bytes as typed messages and as startup
// packets, runs every decoder on every payload, and checks that whatever a decoder accepts re-encodes to
// the same bytes. Never crashes, never throws, for any input.
#include "backends/pg/wire/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace wire = sluice::backends::pg::wire;

namespace {

// Small, so that length fields from the fuzzer hit too_large as well as ok and need_more.
constexpr std::size_t max_message_size = 4096;

void require(bool condition) {
  if (!condition) std::abort();
}

bool same_bytes(wire::bytes_view a, wire::bytes_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Payload of the single typed message that `encode` appended to an empty buffer.
wire::bytes_view reencoded_payload(const wire::byte_buffer& out) {
  const auto framed = wire::frame_message(out, out.size());
  require(framed.status == wire::frame_status::ok && framed.message.wire_size == out.size());
  return framed.message.payload;
}

// Runs every typed-message decoder over `payload`; what decodes must re-encode to the same payload.
void decode_typed(wire::bytes_view payload, wire::byte_buffer& scratch) {
  if (auto q = wire::decode_query(payload)) {
    scratch.clear();
    wire::encode_query(scratch, *q);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto c = wire::decode_command_complete(payload)) {
    scratch.clear();
    wire::encode_command_complete(scratch, *c);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto p = wire::decode_parse(payload)) {
    require(p->parameter_types.size() == static_cast<std::size_t>(p->parameter_count) * 4);
    scratch.clear();
    wire::encode_parse(scratch, p->statement, p->query, p->parameter_count, p->parameter_types);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto b = wire::decode_bind(payload)) {
    scratch.clear();
    wire::encode_bind(scratch, b->portal, b->statement, b->rest);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto d = wire::decode_describe(payload)) {
    require(d->kind == 'S' || d->kind == 'P');
    scratch.clear();
    wire::encode_describe(scratch, d->kind, d->name);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto c = wire::decode_close(payload)) {
    scratch.clear();
    wire::encode_close(scratch, c->kind, c->name);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto e = wire::decode_execute(payload)) {
    scratch.clear();
    wire::message_builder builder(scratch, wire::fe::execute);
    builder.add_string(e->portal).add_int32(e->max_rows);
    builder.finish();
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto a = wire::decode_authentication(payload)) {
    if (a->code == wire::auth_code::md5_password) require(a->data.size() == 4);
    scratch.clear();
    wire::encode_authentication(scratch, a->code, a->data);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto s = wire::decode_parameter_status(payload)) {
    scratch.clear();
    wire::encode_parameter_status(scratch, s->name, s->value);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto k = wire::decode_backend_key_data(payload)) {
    scratch.clear();
    wire::encode_backend_key_data(scratch, k->process_id, k->secret_key);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto z = wire::decode_ready_for_query(payload)) {
    scratch.clear();
    wire::encode_ready_for_query(scratch, *z);
    require(same_bytes(reencoded_payload(scratch), payload));
  }
  if (auto s = wire::decode_sasl_initial_response(payload)) {
    // Length -1 means "no data"; the encoder always writes the data's length, so only check the rest.
    wire::string_reader length_reader(payload.subspan(s->mechanism.size() + 1));
    if (length_reader.next_int32() == -1) {
      require(s->data.empty());
    } else {
      scratch.clear();
      wire::encode_sasl_initial_response(scratch, s->mechanism, s->data);
      require(same_bytes(reencoded_payload(scratch), payload));
    }
  }

  const bool error_ok = wire::for_each_error_field(payload, [](char code, std::string_view value) {
    require(code != 0);
    require(value.find('\0') == std::string_view::npos);
  });
  const auto sqlstate = wire::error_sqlstate(payload);
  if (!error_ok) require(sqlstate.empty());
  require(sqlstate.find('\0') == std::string_view::npos);

  // string_reader driven by the payload itself: each byte picks the next read.
  wire::string_reader reader(payload);
  for (std::size_t step = 0; step < 64 && !reader.at_end(); ++step) {
    const std::size_t before = reader.rest().size();
    const auto op = payload[step % payload.size()];
    bool moved = false;
    switch (op % 5) {
      case 0: moved = reader.next_string().has_value(); break;
      case 1: moved = reader.next_int32().has_value(); break;
      case 2: moved = reader.next_int16().has_value(); break;
      case 3: moved = reader.next_byte().has_value(); break;
      default: moved = reader.next_bytes(op / 5u).has_value(); break;
    }
    require(reader.rest().size() <= before);
    if (!moved) require(reader.rest().size() == before);
  }
}

void decode_startup(const wire::startup_view& packet, wire::byte_buffer& scratch) {
  // The result does not matter here, only that walking any bytes is safe.
  (void)wire::for_each_startup_parameter(packet.payload, [](std::string_view name, std::string_view value) {
    require(!name.empty());
    require(name.find('\0') == std::string_view::npos && value.find('\0') == std::string_view::npos);
  });
  if (auto c = wire::decode_cancel_request(packet.payload)) {
    scratch.clear();
    wire::encode_cancel_request(scratch, c->process_id, c->secret_key);
    const auto framed = wire::frame_startup(scratch, scratch.size());
    require(framed.status == wire::frame_status::ok);
    require(same_bytes(framed.packet.payload, packet.payload));
  }
}

// Frames `input` as a stream of typed messages until it runs out or framing fails.
void consume_typed(wire::bytes_view input, wire::byte_buffer& scratch) {
  while (!input.empty()) {
    const auto framed = wire::frame_message(input, max_message_size);
    if (framed.status != wire::frame_status::ok) {
      if (framed.status == wire::frame_status::need_more && framed.needed != 0) require(framed.needed > input.size());
      if (framed.status == wire::frame_status::too_large) require(framed.needed > max_message_size);
      return;
    }
    const auto& m = framed.message;
    require(m.wire_size >= wire::typed_header_size && m.wire_size <= input.size());
    require(m.payload.size() == m.wire_size - wire::typed_header_size);
    require(m.payload.data() == input.data() + wire::typed_header_size);
    decode_typed(m.payload, scratch);
    input = input.subspan(m.wire_size);
  }
}

// Frames `input` as startup packets, then (as a server would after StartupMessage) typed messages.
void consume_startup(wire::bytes_view input, wire::byte_buffer& scratch) {
  while (!input.empty()) {
    const auto framed = wire::frame_startup(input, max_message_size);
    if (framed.status != wire::frame_status::ok) {
      if (framed.status == wire::frame_status::need_more && framed.needed != 0) require(framed.needed > input.size());
      if (framed.status == wire::frame_status::too_large) require(framed.needed > max_message_size);
      return;
    }
    const auto& p = framed.packet;
    require(p.wire_size >= wire::startup_header_size && p.wire_size <= input.size());
    require(p.payload.size() == p.wire_size - wire::startup_header_size);
    decode_startup(p, scratch);
    input = input.subspan(p.wire_size);
    if (p.code == wire::protocol_v3) break;
  }
  consume_typed(input, scratch);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static wire::byte_buffer scratch;
  const wire::bytes_view input(data, size);
  consume_typed(input, scratch);
  consume_startup(input, scratch);
  // Decoders must also cope with any bytes, not just framed payloads.
  decode_typed(input, scratch);
  return 0;
}
