#pragma once
// The loop a worker process runs: read task frames, call each task's invoker, write result
// frames. Results are written in batches: only when no further task is already buffered.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <exception>
#include <iostream>

#include <signal.h>
#include <unistd.h>

#include "../serialization.hpp"
#include "code_location.hpp"
#include "framing.hpp"
#include "remote_exception.hpp"

namespace confut::detail {

/// Decodes a task's callable and arguments from `arguments`, runs it, encodes its result.
using RemoteInvoker = void (*)(WireReader& arguments, WireWriter& result);

/// What every worker of one pool is told when it starts.
struct WorkerConfig {
  bool has_initializer = false;
  CodeLocation initializer{};        // a void() function
  std::uint64_t max_tasks = 0;       // 0: no limit
};

/// Frame kinds sent by a worker.
enum class WorkerReply : std::uint8_t { value = 0, error = 1, ready = 2, init_failed = 3 };

/// Appends one frame to `outbox`: header room, then what `fill` writes; patches the size.
template <class Fill>
void append_frame(WireWriter& outbox, Fill&& fill) {
  const std::size_t start = outbox.size();
  outbox.write(std::uint64_t{0});
  fill(outbox);
  const std::uint64_t length = outbox.size() - start - kFrameHeader;
  std::memcpy(outbox.buffer().data() + start, &length, kFrameHeader);
}

inline void flush_outbox(int fd, WireWriter& outbox) {
  if (outbox.size() == 0) return;
  if (!write_all(fd, outbox.buffer().data(), outbox.size())) {
    std::fflush(nullptr);
    _exit(0);  // the parent is gone
  }
  outbox.clear();
}

inline void flush_stdio() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

/// Runs the worker loop on `fd` until the parent closes it (or max_tasks is reached); never
/// returns. Exits with _exit so that the parent's atexit handlers and static destructors,
/// copied in by fork, do not run here.
[[noreturn]] inline void run_worker(int fd, const WorkerConfig& config) {
  // Handlers copied from the parent (a test framework's crash handler, say) must not run
  // here: a crash has to end the worker with its signal, for the parent to report.
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal != SIGKILL && signal != SIGSTOP) ::signal(signal, SIG_DFL);
  }
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C is the parent's to handle
  WireWriter outbox;

  if (config.has_initializer) {
    try {
      resolve_function<void()>(config.initializer)();
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      append_frame(outbox, [&](WireWriter& w) {
        w.write(std::uint64_t{0});
        w.write(static_cast<std::uint8_t>(WorkerReply::init_failed));
        encode_exception(w, error);
      });
      flush_outbox(fd, outbox);
      flush_stdio();
      _exit(3);
    }
  }
  append_frame(outbox, [](WireWriter& w) {
    w.write(std::uint64_t{0});
    w.write(static_cast<std::uint8_t>(WorkerReply::ready));
  });
  flush_outbox(fd, outbox);

  FrameReader reader;
  std::uint64_t tasks_done = 0;
  while (true) {
    const std::byte* data = nullptr;
    std::size_t size = 0;
    while (reader.next(data, size)) {
      // Replies go out before the next task starts: if that task crashes the worker, the
      // parent must still get every earlier result, and must know which task was running.
      flush_outbox(fd, outbox);
      WireReader in(data, size);
      const auto sequence = in.read<std::uint64_t>();
      CodeLocation invoker_location;
      invoker_location.module = in.read<std::uint64_t>();
      invoker_location.offset = in.read<std::uint64_t>();
      const std::size_t frame_start = outbox.size();
      try {
        append_frame(outbox, [&](WireWriter& w) {
          w.write(sequence);
          w.write(static_cast<std::uint8_t>(WorkerReply::value));
          resolve_function<void(WireReader&, WireWriter&)>(invoker_location)(in, w);
        });
      } catch (...) {
        outbox.buffer().resize(frame_start);  // drop a half-written result
        const std::exception_ptr error = std::current_exception();
        append_frame(outbox, [&](WireWriter& w) {
          w.write(sequence);
          w.write(static_cast<std::uint8_t>(WorkerReply::error));
          encode_exception(w, error);
        });
      }
      ++tasks_done;
      if (config.max_tasks != 0 && tasks_done >= config.max_tasks) {
        flush_outbox(fd, outbox);
        flush_stdio();
        _exit(0);
      }
    }
    flush_outbox(fd, outbox);  // nothing more buffered: send results before blocking
    flush_stdio();
    const long n = reader.read_from(fd);
    if (n == 0 || (n < 0 && errno != EINTR)) {
      flush_stdio();
      _exit(0);
    }
  }
}

}  // namespace confut::detail
