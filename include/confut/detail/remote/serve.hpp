#pragma once
// The worker's side of the protocol, independent of how requests arrive: serve_request()
// decodes one request, honours its claim, runs the call and appends the reply; the loop
// around it (a worker process's main, the loopback transport's threads, an MPI rank) only
// moves frames.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "../../serialization.hpp"
#include "claims.hpp"
#include "code_location.hpp"
#include "protocol.hpp"
#include "remote_exception.hpp"

namespace confut::detail {

inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Where the invoker of a timed task notes when the arguments were decoded and when the call
/// returned (one task runs at a time on a worker thread).
struct CallNotes {
  bool wanted = false;
  std::int64_t decoded = 0;
  std::int64_t returned = 0;
};
inline CallNotes& call_notes() noexcept {
  static thread_local CallNotes notes;
  return notes;
}
/// The worker's clock for task_timeout (null where no timeout applies): the dispatcher reads
/// it to time the call running now.
inline std::atomic<std::int64_t>*& worker_call_clock() noexcept {
  static thread_local std::atomic<std::int64_t>* clock = nullptr;
  return clock;
}
/// An invoker, as a call starts: the dispatcher times the call (task_timeout) from here.
/// Without a timeout only a test of a null pointer (a clock read per call would cost in map
/// chunks).
inline void note_call_started() noexcept {
  if (std::atomic<std::int64_t>* clock = worker_call_clock()) {
    clock->store(steady_now_ns(), std::memory_order_release);
  }
}
inline void note_arguments_decoded() noexcept {
  CallNotes& notes = call_notes();
  if (notes.wanted) notes.decoded = steady_now_ns();
}
inline void note_call_returned() noexcept {
  CallNotes& notes = call_notes();
  if (notes.wanted) notes.returned = steady_now_ns();
}

/// Runs a worker initializer; false (with an init_failed reply in `outbox`) when it threw.
inline bool run_initializer(const CodeLocation& initializer, WireWriter& outbox) {
  try {
    resolve_function<void()>(initializer)();
    return true;
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    append_reply(outbox, 0, WorkerReply::init_failed,
                 [&](WireWriter& w) { encode_exception(w, error); });
    return false;
  }
}

/// The reply a starting worker sends once it can take tasks.
inline void append_ready(WireWriter& outbox) { append_reply(outbox, 0, WorkerReply::ready); }

enum class Served : std::uint8_t {
  ran,        // ran it: its reply is in the outbox
  cancelled,  // cancelled before it started: a "cancelled" reply is in the outbox
  skipped,    // taken back for another worker: no reply
};

/// Serves request number `request` of this worker (counted as the dispatcher counts them):
/// `data` is the request frame without its size header. Appends the reply to `outbox`.
inline Served serve_request(const std::byte* data, std::size_t size, std::uint64_t request,
                            ClaimBoard& claims, WireWriter& outbox) {
  WireReader in(data, size);
  const std::uint64_t sequence = read_request_sequence(in);
  if (!claims.try_start(request)) {
    // Taken back: for a worker that ran out of work (no reply: the dispatcher has forgotten
    // it here), or cancelled (the dispatcher waits for this reply to let the task go).
    if (!claims.cancelled(request)) return Served::skipped;
    append_reply(outbox, sequence, WorkerReply::cancelled);
    return Served::cancelled;
  }
  const std::size_t reply_start = outbox.size();
  CallNotes& notes = call_notes();
  notes = CallNotes{(sequence & kTimedRequest) != 0, 0, 0};
  const std::int64_t started = notes.wanted ? steady_now_ns() : 0;
  const auto append_timestamps = [&](WireWriter& w) {
    if (!notes.wanted) return;
    const std::int64_t ended = steady_now_ns();
    write_timestamps(w, WorkerTimestamps{started, notes.decoded != 0 ? notes.decoded : started,
                                         notes.returned != 0 ? notes.returned : ended, ended});
  };
  try {
    const CodeLocation invoker = read_request_invoker(in);
    append_reply(outbox, sequence, WorkerReply::value, [&](WireWriter& w) {
      resolve_function<void(WireReader&, WireWriter&)>(invoker)(in, w);
      append_timestamps(w);
    });
  } catch (...) {
    outbox.buffer().resize(reply_start);  // drop a half-written result
    const std::exception_ptr error = std::current_exception();
    append_reply(outbox, sequence, WorkerReply::error, [&](WireWriter& w) {
      encode_exception(w, error);
      append_timestamps(w);
    });
  }
  return Served::ran;
}

}  // namespace confut::detail
