#pragma once
// The seam between the dispatcher (what every executor that runs tasks elsewhere needs) and a
// transport (how requests reach one kind of worker: local processes over shared memory, MPI
// ranks, loopback threads in tests). Resolved at compile time: Dispatcher<T> calls T's
// members directly, so the per-task path has no virtual call.
//
// A transport numbers its workers 0..worker_count()-1; each number is a slot that start()
// fills and refills (a replacement after a death is the same slot). It delivers what happens
// to an event sink (the dispatcher), from poll() and wait() only, on the dispatcher's thread:
//   sink.worker_started(w)          the worker in slot w exists (its label is known now)
//   sink.reply(w, data, size)       a reply frame from w, without its size header
//                                   (protocol.hpp): a task's reply, or "ready" once it can
//                                   take tasks, or "init_failed"
//   sink.worker_gone(w, end)        w has ended and sends nothing more; every reply it sent
//                                   before was delivered first
//   sink.transport_failed(reason)   no worker can be started any more (the executor breaks)

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "claims.hpp"

namespace confut::detail {

/// How a worker ended, as far as its transport knows.
struct WorkerEnd {
  int pid = 0;         // the process that ended (0: none, e.g. a thread)
  int signal = 0;      // the signal that ended it, or 0
  int exit_code = -1;  // its exit code when it exited, else -1
  std::string how;     // "killed by signal 9 (SIGKILL)", "exited with code 3", ...
};

/// What a transport reports to (the dispatcher's side of the seam).
template <class S>
concept TransportEvents = requires(S& sink, std::size_t worker, const std::byte* data,
                                   std::size_t size, WorkerEnd end, const std::string& reason) {
  sink.worker_started(worker);
  sink.reply(worker, data, size);
  sink.worker_gone(worker, std::move(end));
  sink.transport_failed(reason);
};

/// A sink that ignores everything: only for checking the Transport concept.
struct EventSinkArchetype {
  void worker_started(std::size_t) {}
  void reply(std::size_t, const std::byte*, std::size_t) {}
  void worker_gone(std::size_t, WorkerEnd) {}
  void transport_failed(const std::string&) {}
};

template <class T>
concept Transport = requires(T& t, const T& ct, std::size_t worker,
                             std::vector<std::byte>& frame, int timeout_ms,
                             EventSinkArchetype& sink) {
  /// The number of worker slots (fixed for the transport's life).
  { ct.worker_count() } -> std::same_as<std::size_t>;
  /// Starts (or replaces) the worker in a slot; events follow. Returns why it could not
  /// (then the executor breaks), empty when it could.
  { t.start(worker) } -> std::same_as<std::string>;
  /// The claim words of the slot's current worker (claims.hpp), visible to it.
  { t.claims(worker) } -> std::same_as<ClaimBoard&>;
  /// Queues one request frame (size header first) for a worker, in order. True when it went
  /// on the transport's slow path (too large for its fast one), where the worker may be
  /// reading it for a while: such a request is not taken back for stalling.
  { t.send(worker, frame) } -> std::same_as<bool>;
  /// Makes everything sent since the last flush go out (one wake-up per worker).
  t.flush();
  /// Delivers the events there are now, without waiting; true when there were any.
  { t.poll(sink) } -> std::same_as<bool>;
  /// Whether poll() would find a reply now (a cheap look, for spinning).
  { ct.replies_waiting() } -> std::same_as<bool>;
  /// Sleeps until an event, a wake() or `timeout_ms` (-1: no limit), then delivers events.
  t.wait(sink, timeout_ms);
  /// Ends a wait() from any thread.
  t.wake();
  /// Kills the worker in a slot (its death follows as worker_gone); false when it has no
  /// worker to kill.
  { t.kill(worker) } -> std::same_as<bool>;
  /// Whether the worker has taken every request sent to it off the transport (it is alive,
  /// even if it has not replied yet).
  { ct.requests_drained(worker) } -> std::same_as<bool>;
  /// When the worker's current call started (steady clock, ns), or 0 if unknown: what
  /// task_timeout counts from.
  { ct.call_started_ns(worker) } -> std::same_as<std::int64_t>;
  /// "worker 0 (pid 1234)": the slot's label in statistics and traces.
  { ct.label(worker) } -> std::same_as<std::string>;
  /// Ends every worker and releases everything; no event after it.
  t.close();
};

}  // namespace confut::detail
