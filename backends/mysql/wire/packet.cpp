// MySQL packet framing, chunk joining and splitting, and sequence-id rewriting (see packet.hpp).
#include "backends/mysql/wire/packet.hpp"

#include <cstring>

namespace sluice::backends::mysql::wire {
namespace {

std::size_t read_length(const std::uint8_t* header) noexcept {
  return std::size_t{header[0]} | (std::size_t{header[1]} << 8) | (std::size_t{header[2]} << 16);
}

void write_header(std::uint8_t* header, std::size_t length, std::uint8_t sequence_id) noexcept {
  header[0] = static_cast<std::uint8_t>(length);
  header[1] = static_cast<std::uint8_t>(length >> 8);
  header[2] = static_cast<std::uint8_t>(length >> 16);
  header[sequence_id_offset] = sequence_id;
}

}  // namespace

packet_frame frame_packet(bytes_view buffer) noexcept {
  packet_frame result;
  if (buffer.size() < packet_header_size) return result;
  const std::size_t length = read_length(buffer.data());
  const std::size_t total = packet_header_size + length;
  if (buffer.size() < total) {
    result.needed = total;
    return result;
  }
  result.status = codec_errc::ok;
  result.packet.sequence_id = buffer[sequence_id_offset];
  result.packet.payload = buffer.subspan(packet_header_size, length);
  result.packet.wire_size = total;
  return result;
}

bytes_view message_view::first_chunk() const noexcept {
  if (wire.size() < packet_header_size) return {};
  const std::size_t length = read_length(wire.data());
  const std::size_t available = wire.size() - packet_header_size;
  return wire.subspan(packet_header_size, length < available ? length : available);
}

message_frame frame_message(bytes_view buffer, std::size_t max_payload_size) noexcept {
  message_frame result;
  std::size_t offset = 0;
  std::size_t payload_size = 0;
  std::size_t chunks = 0;
  std::uint8_t expected_id = 0;
  for (;;) {
    if (buffer.size() - offset < packet_header_size) {
      result.needed = offset + packet_header_size;
      return result;
    }
    const std::uint8_t* header = buffer.data() + offset;
    const std::size_t length = read_length(header);
    const std::uint8_t id = header[sequence_id_offset];
    if (chunks == 0) {
      result.message.first_sequence_id = id;
    } else if (id != expected_id) {
      result.status = codec_errc::out_of_order;
      return result;
    }
    expected_id = static_cast<std::uint8_t>(id + 1);
    // payload_size + length cannot wrap: both are far below SIZE_MAX / 2 for any buffer that exists.
    if (length > max_payload_size || payload_size > max_payload_size - length) {
      result.status = codec_errc::packet_too_large;
      result.needed = payload_size + length;
      return result;
    }
    payload_size += length;
    ++chunks;
    const std::size_t chunk_end = offset + packet_header_size + length;
    if (buffer.size() < chunk_end) {
      result.needed = chunk_end;
      return result;
    }
    offset = chunk_end;
    if (length < max_packet_payload) break;
  }
  result.status = codec_errc::ok;
  result.message.wire = buffer.first(offset);
  result.message.payload_size = payload_size;
  result.message.chunk_count = chunks;
  result.message.next_sequence_id = expected_id;
  return result;
}

void append_payload(const message_view& message, byte_buffer& out) {
  for_each_chunk(message, [&out](bytes_view chunk) { out.insert(out.end(), chunk.begin(), chunk.end()); });
}

std::size_t begin_packet(byte_buffer& out) {
  const std::size_t offset = out.size();
  out.insert(out.end(), packet_header_size, std::uint8_t{0});
  return offset;
}

std::uint8_t finish_packet(byte_buffer& out, std::size_t header_offset, std::uint8_t sequence_id) {
  if (out.size() < header_offset + packet_header_size) return sequence_id;  // misuse: nothing begun
  const std::size_t payload_size = out.size() - header_offset - packet_header_size;
  // 0xFFFFFF-byte chunks, then one shorter (possibly empty) chunk that ends the message.
  const std::size_t chunks = payload_size / max_packet_payload + 1;
  if (chunks > 1) {
    // Make room for the extra headers, then move chunks back to front so none is overwritten unread.
    out.resize(out.size() + (chunks - 1) * packet_header_size);
    std::uint8_t* base = out.data() + header_offset;
    for (std::size_t i = chunks - 1; i > 0; --i) {
      const std::size_t source = packet_header_size + i * max_packet_payload;
      const std::size_t target = i * (packet_header_size + max_packet_payload);
      const std::size_t length = i == chunks - 1 ? payload_size - i * max_packet_payload : max_packet_payload;
      std::memmove(base + target + packet_header_size, base + source, length);
      write_header(base + target, length, static_cast<std::uint8_t>(sequence_id + i));
    }
  }
  const std::size_t first_length = chunks > 1 ? max_packet_payload : payload_size;
  write_header(out.data() + header_offset, first_length, sequence_id);
  return static_cast<std::uint8_t>(sequence_id + chunks);
}

std::uint8_t write_message(byte_buffer& out, bytes_view payload, std::uint8_t sequence_id) {
  const std::size_t header = begin_packet(out);
  out.insert(out.end(), payload.begin(), payload.end());
  return finish_packet(out, header, sequence_id);
}

std::uint8_t sequence_id_of(bytes_view packet) noexcept {
  return packet.size() < packet_header_size ? std::uint8_t{0} : packet[sequence_id_offset];
}

bool set_sequence_id(mutable_bytes packet, std::uint8_t sequence_id) noexcept {
  if (packet.size() < packet_header_size) return false;
  packet[sequence_id_offset] = sequence_id;
  return true;
}

codec_errc renumber_message(mutable_bytes wire, std::uint8_t first_sequence_id, std::uint8_t& next) noexcept {
  // First check that every chunk is there, so that a partial message is left untouched.
  std::size_t end = 0;
  for (;;) {
    if (wire.size() - end < packet_header_size) return codec_errc::need_more;
    const std::size_t length = read_length(wire.data() + end);
    if (wire.size() - end - packet_header_size < length) return codec_errc::need_more;
    end += packet_header_size + length;
    if (length < max_packet_payload) break;
  }
  std::uint8_t id = first_sequence_id;
  for (std::size_t offset = 0; offset < end; offset += packet_header_size + read_length(wire.data() + offset))
    wire[offset + sequence_id_offset] = id++;
  next = id;
  return codec_errc::ok;
}

}  // namespace sluice::backends::mysql::wire
