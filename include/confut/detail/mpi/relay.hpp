#pragma once
// Isolation by process on a worker rank: each request from rank 0 is relayed, as it came,
// to a process pool of the rank's own (Dispatcher<ProcessTransport>), so that a task that
// crashes or runs past its timeout kills only a child of the rank, and fails only its own
// future (WorkerDied / TimeoutError, naming the rank and host). The pool's fork server is
// started by re-executing the program, so it is not a fork of an MPI process.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../errors.hpp"
#include "../../future.hpp"
#include "../../serialization.hpp"
#include "../core/shared_state.hpp"
#include "../process/process_transport.hpp"
#include "../remote/dispatcher.hpp"
#include "../remote/protocol.hpp"
#include "../remote/remote_exception.hpp"
#include "../remote/remote_task.hpp"
#include "../remote/serve.hpp"

namespace confut::detail {

/// A request relayed unchanged: its invoker and body go to a child process, and the child's
/// result comes back as the encoded bytes it was.
class RelayedRequest final : public State<std::vector<std::byte>>, public RemoteTask {
 public:
  RelayedRequest(CodeLocation invoker, const std::byte* body, std::size_t size)
      : invoker_(invoker), body_(body, body + size) {}

  StateBase& remote_state() noexcept override { return *this; }

  void write_request(WireWriter& out) override {
    begin_request(out, invoker_);
    out.write_bytes(body_.data(), body_.size());
  }

  std::uint8_t store_reply(WireReader& in) noexcept override {
    try {
      std::vector<std::byte> payload(in.remaining());
      in.read_bytes(payload.data(), payload.size());
      emplace_value(std::move(payload));
    } catch (...) {
      set_error(std::current_exception());
      return kFailed;
    }
    body_.clear();
    return kFinished;
  }

  std::string task_name() const override { return "a task from rank 0"; }
  const void* name_key() const noexcept override { return &type_tag<RelayedRequest>; }
  bool withdraw_unstarted() noexcept override { return withdraw(*this); }
  bool started_running() const noexcept override { return started(); }

 private:
  CodeLocation invoker_;
  std::vector<std::byte> body_;
};

/// A worker rank's process pool, for isolation by process.
class ProcessRelay {
 public:
  ProcessRelay(std::size_t workers, const WorkerConfig& config,
               std::optional<std::chrono::steady_clock::duration> task_timeout, std::string where)
      : where_(std::move(where)),
        pool_("MPI rank process pool", workers, settings_of(config, task_timeout), config,
              task_timeout.has_value()) {}

  /// Runs request `data` (a request frame without its size header) in a child process and
  /// appends the reply for rank 0 to `outbox`. Blocks until the child has answered or died.
  void serve(const std::byte* data, std::size_t size, WireWriter& outbox) {
    WireReader in(data, size);
    const std::uint64_t sequence = read_request_sequence(in);
    const bool timed = (sequence & kTimedRequest) != 0;
    const std::int64_t started = timed ? steady_now_ns() : 0;
    std::exception_ptr error;
    std::vector<std::byte> payload;
    try {
      const CodeLocation invoker = read_request_invoker(in);
      const std::byte* body = data + (size - in.remaining());
      auto future = pool_.template submit_task<std::vector<std::byte>>(
          new RelayedRequest(invoker, body, in.remaining()));
      future.wait();
      if (std::exception_ptr failure = future.exception()) {
        error = located(failure);
      } else {
        payload = std::move(future).result();
      }
    } catch (...) {
      error = located(std::current_exception());
    }
    const auto stamps = [&](WireWriter& w) {
      if (!timed) return;
      const std::int64_t ended = steady_now_ns();
      write_timestamps(w, WorkerTimestamps{started, started, ended, ended});
    };
    if (error) {
      append_reply(outbox, sequence, WorkerReply::error, [&](WireWriter& w) {
        encode_exception(w, error);
        stamps(w);
      });
    } else {
      append_reply(outbox, sequence, WorkerReply::value, [&](WireWriter& w) {
        w.write_bytes(payload.data(), payload.size());
        stamps(w);
      });
    }
  }

 private:
  static DispatcherSettings settings_of(
      const WorkerConfig& config, std::optional<std::chrono::steady_clock::duration> timeout) {
    DispatcherSettings settings;
    settings.task_timeout = timeout;
    settings.has_initializer = config.has_initializer;
    settings.broken_prefix = "confut: a worker rank's process pool is broken: ";
    return settings;
  }

  /// The child's failure, with the rank and host in front of what the pool says.
  std::exception_ptr located(const std::exception_ptr& failure) const {
    const auto text = [&](const std::exception& e) {
      std::string what = e.what();
      if (what.rfind("confut: ", 0) == 0) what.erase(0, 8);
      return where_ + ": " + what;
    };
    try {
      std::rethrow_exception(failure);
    } catch (const WorkerDied& e) {
      return std::make_exception_ptr(WorkerDied(text(e), e.pid(), e.signal(), e.exit_code()));
    } catch (const TimeoutError& e) {
      return std::make_exception_ptr(TimeoutError(text(e)));
    } catch (const BrokenExecutor& e) {
      return std::make_exception_ptr(BrokenExecutor(text(e)));
    } catch (...) {
      return failure;  // the task's own exception
    }
  }

  std::string where_;  // "confut: on MPI rank 1 (host)"
  Dispatcher<ProcessTransport> pool_;
};

}  // namespace confut::detail
