#pragma once
// The wire protocol between a dispatcher and its workers, written and parsed here only.
//
//   request frame:  u64 size | u64 sequence | u64 invoker module | u64 invoker offset | body
//   reply frame:    u64 size | u64 sequence | u8 kind | payload | [4 x i64 timestamps]
//
// `size` counts the bytes after it (framing.hpp reads frames by it). The body is what the
// task's invoker decodes (callable, then arguments); the payload of a `value` reply is what
// it encoded, of an `error` reply an encoded exception (remote_exception.hpp). A request
// whose sequence has kTimedRequest set asks the worker to time the task: its reply then
// ends with the timestamps (steady clock, ns): started, arguments decoded, call returned,
// result encoded. A transport carries frames whole and in order; it may drop the size
// header and carry the rest, as the process transport's rings do.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../errors.hpp"
#include "../../serialization.hpp"
#include "code_location.hpp"

namespace confut::detail {

/// The size header in front of every frame.
inline constexpr std::size_t kFrameHeader = sizeof(std::uint64_t);

inline constexpr std::uint64_t kTimedRequest = std::uint64_t{1} << 63;
inline constexpr std::size_t kTimestampsSize = 4 * sizeof(std::int64_t);

/// What a reply frame says. `ready` and `init_failed` come once from a starting worker
/// (sequence 0); `cancelled`: a request cancelled before it started, skipped.
enum class WorkerReply : std::uint8_t {
  value = 0,
  error = 1,
  ready = 2,
  init_failed = 3,
  cancelled = 4
};

struct WorkerTimestamps {
  std::int64_t started = 0, decoded = 0, returned = 0, ended = 0;
};

// ---- requests ----

/// Starts a request frame in `out`: the size and sequence are patched in later
/// (finish_request); the caller writes the body next.
inline void begin_request(WireWriter& out, const CodeLocation& invoker) {
  out.write(std::uint64_t{0});  // size
  out.write(std::uint64_t{0});  // sequence
  out.write(invoker.module);
  out.write(invoker.offset);
}

/// Patches size and sequence into a request frame that begin_request() started.
inline void finish_request(std::vector<std::byte>& frame, std::uint64_t sequence) noexcept {
  const std::uint64_t size = frame.size() - kFrameHeader;
  std::memcpy(frame.data(), &size, sizeof size);
  std::memcpy(frame.data() + kFrameHeader, &sequence, sizeof sequence);
}

/// The sequence number of a request (without its size header): read before the worker
/// decides whether to run it.
inline std::uint64_t read_request_sequence(WireReader& in) { return in.read<std::uint64_t>(); }

/// The invoker that runs a request, read after its sequence; the body follows in `in`.
inline CodeLocation read_request_invoker(WireReader& in) {
  CodeLocation invoker;
  invoker.module = in.read<std::uint64_t>();
  invoker.offset = in.read<std::uint64_t>();
  return invoker;
}

// ---- replies ----

/// Appends one reply frame to `outbox`: header, then what `fill` writes; patches the size.
template <class Fill>
void append_reply(WireWriter& outbox, std::uint64_t sequence, WorkerReply kind, Fill&& fill) {
  const std::size_t start = outbox.size();
  outbox.write(std::uint64_t{0});
  outbox.write(sequence);
  outbox.write(static_cast<std::uint8_t>(kind));
  fill(outbox);
  const std::uint64_t length = outbox.size() - start - kFrameHeader;
  std::memcpy(outbox.buffer().data() + start, &length, kFrameHeader);
}

inline void append_reply(WireWriter& outbox, std::uint64_t sequence, WorkerReply kind) {
  append_reply(outbox, sequence, kind, [](WireWriter&) {});
}

inline void write_timestamps(WireWriter& out, const WorkerTimestamps& times) {
  out.write(times.started);
  out.write(times.decoded);
  out.write(times.returned);
  out.write(times.ended);
}

/// A reply frame (without its size header), parsed.
struct Reply {
  std::uint64_t sequence = 0;
  WorkerReply kind = WorkerReply::value;
  const std::byte* payload = nullptr;
  std::size_t payload_size = 0;
  bool timed = false;  // `times` holds the worker's timestamps
  WorkerTimestamps times;

  WireReader payload_reader() const { return WireReader(payload, payload_size); }
};

/// Parses a reply; throws DecodeError when it is too short to be one.
inline Reply parse_reply(const std::byte* data, std::size_t size) {
  WireReader header(data, size);
  Reply reply;
  reply.sequence = header.read<std::uint64_t>();
  const auto kind = header.read<std::uint8_t>();
  if (kind > static_cast<std::uint8_t>(WorkerReply::cancelled)) {
    throw DecodeError("confut: a worker's reply has an unknown kind");
  }
  reply.kind = static_cast<WorkerReply>(kind);
  constexpr std::size_t kHeader = sizeof(std::uint64_t) + sizeof(std::uint8_t);
  reply.payload = data + kHeader;
  reply.payload_size = size - kHeader;
  const bool carries_result = reply.kind == WorkerReply::value || reply.kind == WorkerReply::error;
  if (carries_result && (reply.sequence & kTimedRequest) != 0 &&
      reply.payload_size >= kTimestampsSize) {
    reply.payload_size -= kTimestampsSize;
    WireReader stamps(reply.payload + reply.payload_size, kTimestampsSize);
    reply.timed = true;
    reply.times.started = stamps.read<std::int64_t>();
    reply.times.decoded = stamps.read<std::int64_t>();
    reply.times.returned = stamps.read<std::int64_t>();
    reply.times.ended = stamps.read<std::int64_t>();
  }
  return reply;
}

}  // namespace confut::detail
