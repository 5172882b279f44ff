// MySQL packet framing, sans-IO: a 4-byte header (3-byte little-endian payload length, 1-byte sequence
// id) before each payload. A logical message of 16 MiB - 1 bytes or more travels as 0xFFFFFF-byte chunks
// followed by a shorter (possibly empty) one; frame_message finds whole messages without copying.
#pragma once

#include "backends/mysql/wire/codec_errc.hpp"
#include "backends/mysql/wire/payload_reader.hpp"

#include <cstddef>
#include <cstdint>

namespace sluice::backends::mysql::wire {

inline constexpr std::size_t packet_header_size = 4;
inline constexpr std::size_t max_packet_payload = 0xffffff;  // a chunk this long means "more follows"
inline constexpr std::size_t sequence_id_offset = 3;         // the header's last byte

// One physical packet at the start of a buffer.
struct packet_view {
  std::uint8_t sequence_id = 0;
  bytes_view payload;         // points into the caller's buffer
  std::size_t wire_size = 0;  // header + payload
};

struct packet_frame {
  codec_errc status = codec_errc::need_more;  // ok or need_more
  packet_view packet;
  std::size_t needed = 0;  // with need_more: total bytes needed at least (0 if the header is incomplete)
};

// Frames one physical packet (no joining, no size limit beyond the format's 16 MiB - 1).
packet_frame frame_packet(bytes_view buffer) noexcept;

// One logical message: one or more chunks, each with its header, back to back in the caller's buffer.
struct message_view {
  bytes_view wire;                     // every chunk with its header; wire.size() is what was consumed
  std::size_t payload_size = 0;        // logical payload size (sum of the chunks)
  std::size_t chunk_count = 0;         // 1 unless the payload reached 0xFFFFFF bytes
  std::uint8_t first_sequence_id = 0;  // id of the first chunk
  std::uint8_t next_sequence_id = 0;   // id after the last chunk: the next packet of the exchange carries it

  bool contiguous() const noexcept { return chunk_count == 1; }
  // The payload when it is one chunk (contiguous()); otherwise the first chunk's payload only. The first
  // chunk of a split message holds 0xFFFFFF bytes, enough for every header field a proxy inspects.
  bytes_view first_chunk() const noexcept;
  // The payload of a contiguous message; empty for a split one (use for_each_chunk or append_payload).
  bytes_view payload() const noexcept { return contiguous() ? first_chunk() : bytes_view{}; }
};

struct message_frame {
  codec_errc status = codec_errc::need_more;  // ok, need_more, packet_too_large or out_of_order
  message_view message;
  // With need_more: the buffer must hold at least this many bytes before framing can progress (a lower
  // bound: more chunks may follow). With packet_too_large: the logical size the headers announced so far.
  std::size_t needed = 0;
};

// Frames one logical message at the start of `buffer`, joining chunks. `max_payload_size` bounds the
// logical payload (packet_too_large as soon as the headers seen exceed it, before the bytes arrive).
// Continuation chunks must carry consecutive sequence ids (mod 256), else out_of_order.
message_frame frame_message(bytes_view buffer, std::size_t max_payload_size) noexcept;

// Calls visit(bytes_view chunk_payload) for each chunk of a framed message, in order.
template <class Visitor>
void for_each_chunk(const message_view& message, Visitor&& visit) {
  bytes_view rest = message.wire;
  for (std::size_t i = 0; i < message.chunk_count && rest.size() >= packet_header_size; ++i) {
    const std::size_t length = std::size_t{rest[0]} | (std::size_t{rest[1]} << 8) | (std::size_t{rest[2]} << 16);
    const std::size_t take = length <= rest.size() - packet_header_size ? length : rest.size() - packet_header_size;
    visit(rest.subspan(packet_header_size, take));
    rest = rest.subspan(packet_header_size + take);
  }
}

// Appends the logical payload of a framed message to `out` (a copy: only for the rare caller that needs
// a split message contiguous, e.g. to decode a 16 MiB COM_STMT_EXECUTE).
void append_payload(const message_view& message, byte_buffer& out);

// ---- encoding ----

// Starts a packet at the end of `out`: appends a header placeholder and returns its offset. Write the
// payload after it (payload_writer), then call finish_packet.
std::size_t begin_packet(byte_buffer& out);

// Finishes the packet begun at `header_offset`: everything after the placeholder is the payload. Splits
// a payload of 0xFFFFFF bytes or more in place into 0xFFFFFF-byte chunks plus a final shorter one (empty
// when the size is a multiple of 0xFFFFFF), numbering them from `sequence_id`. Returns the next id.
std::uint8_t finish_packet(byte_buffer& out, std::size_t header_offset, std::uint8_t sequence_id);

// Appends `payload` as one logical message (chunked as above); returns the next sequence id. `payload`
// must not point into `out`, which may reallocate.
std::uint8_t write_message(byte_buffer& out, bytes_view payload, std::uint8_t sequence_id);

// ---- sequence ids (a proxy renumbers packets when it injects or swallows some) ----

// The sequence id of the packet whose header starts `packet` (0 if shorter than a header).
std::uint8_t sequence_id_of(bytes_view packet) noexcept;

// Rewrites the sequence id of the packet whose header starts `packet`; false if shorter than a header.
bool set_sequence_id(mutable_bytes packet, std::uint8_t sequence_id) noexcept;

// Renumbers every chunk of the logical message at the start of `wire` (as framed by frame_message) to
// first_sequence_id, +1, ...; returns the id after the last chunk in `next`. Fails with need_more, and
// changes nothing, if `wire` does not hold the whole message.
codec_errc renumber_message(mutable_bytes wire, std::uint8_t first_sequence_id, std::uint8_t& next) noexcept;

}  // namespace sluice::backends::mysql::wire
