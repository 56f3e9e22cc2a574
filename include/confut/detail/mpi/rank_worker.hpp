#pragma once
// A worker rank's main loop (entered from confut::Runtime's constructor, never returning):
// it says hello to rank 0, then serves one executor after another until rank 0 says exit.
// While an executor is open its requests arrive in batches; with one thread per rank the
// loop serves them itself, with more each thread of the rank has its own queue (a dispatcher
// slot), and the loop only moves bytes. Replies go back in batches too.

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include "../remote/claims.hpp"
#include "../remote/protocol.hpp"
#include "../remote/remote_objects.hpp"
#include "../remote/serve.hpp"
#include "build_id.hpp"
#include "mpi_world.hpp"
#include "relay.hpp"

namespace confut::detail {

class RankWorker {
 public:
  RankWorker(MPI_Comm comm, int parent) : comm_(comm), parent_(parent) {}

  /// Serves until rank 0 says exit (or sends something unreadable).
  void run() {
    RankHello hello;
    hello.host = this_host();
    hello.build_id = main_build_id();
    hello.program = program_path();
    hello.pid = static_cast<std::uint32_t>(::getpid());
    send_message(comm_, parent_, kToParent, hello_message(hello));
    std::vector<std::byte> message;
    Backoff backoff;
    while (true) {
      send_replies();
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(parent_, kToWorker, comm_, &arrived, &status);
      if (arrived) {
        receive_message(comm_, status, message);
        if (!handle(message)) break;
        backoff.reset();
        continue;
      }
      const bool busy = serving_ > 0 || !sends_.empty();
      if (busy) backoff.reset();
      idle_wait(busy ? std::chrono::microseconds(0) : backoff.next());
    }
    close_executor();
    sends_.finish();
  }

 private:
  /// One thread of the rank: a dispatcher slot with its own queue and claim board.
  struct Context {
    std::uint32_t index = 0;
    ClaimBoard claims;
    std::uint64_t requests = 0;  // numbered as the dispatcher numbers them
    std::deque<std::pair<std::uint8_t, std::vector<std::byte>>> queue;  // flags, frame
    std::condition_variable ready;
    std::thread thread;
  };

  /// Returns false on exit.
  bool handle(const std::vector<std::byte>& message) {
    if (message.empty()) return false;
    WireReader in(message.data() + 1, message.size() - 1);
    try {
      switch (static_cast<ToWorker>(message[0])) {
        case ToWorker::open: open_executor(parse_open(in)); return true;
        case ToWorker::requests: take_requests(message); return true;
        case ToWorker::close:
          close_executor();
          send_message(comm_, parent_, kToParent,
                       kind_message(static_cast<std::uint8_t>(ToParent::closed)));
          return true;
        case ToWorker::store: {
          const auto id = in.read<std::uint64_t>();
          const std::byte* value = message.data() + 1 + sizeof id;
          ObjectStore::instance().put(id, std::vector<std::byte>(value, message.data() + message.size()));
          return true;
        }
        case ToWorker::drop: ObjectStore::instance().drop(in.read<std::uint64_t>()); return true;
        case ToWorker::exit: return false;
      }
    } catch (const std::exception&) {
      // Rank 0 sent something this build cannot read: a bug, not a task's fault.
    }
    return false;
  }

  void open_executor(const OpenMessage& open) {
    close_executor();
    threads_ = open.threads == 0 ? 1 : open.threads;
    contexts_.clear();
    for (std::uint32_t t = 0; t < threads_; ++t) {
      contexts_.push_back(std::make_unique<Context>());
      contexts_.back()->index = t;
    }
    WireWriter outbox;
    bool ready = true;
    const CodeLocation initializer{open.initializer_module, open.initializer_offset};
    if (open.process_isolation) {
      // The initializer runs in each child process; a failing one fails the tasks.
      WorkerConfig config;
      config.has_initializer = open.has_initializer;
      config.initializer = initializer;
      std::optional<std::chrono::steady_clock::duration> timeout;
      if (open.task_timeout_ns > 0) timeout = std::chrono::nanoseconds(open.task_timeout_ns);
      int rank = 0;
      MPI_Comm_rank(comm_, &rank);
      try {
        relay_ = std::make_unique<ProcessRelay>(threads_, config, timeout,
                                                "confut: on MPI rank " + std::to_string(rank) +
                                                    " (" + this_host() + ")");
      } catch (...) {
        ready = false;
        append_reply(outbox, 0, WorkerReply::init_failed,
                     [&](WireWriter& w) { encode_exception(w, std::current_exception()); });
      }
    } else if (open.has_initializer) {
      ready = run_initializer(initializer, outbox);
    }
    if (ready) append_ready(outbox);
    // The same answer for every slot of this rank.
    {
      std::lock_guard lock(mutex_);
      for (std::uint32_t t = 0; t < threads_; ++t) add_reply_locked(t, outbox.buffer());
    }
    if (!ready) return;  // rank 0 breaks the executor; it closes it next
    open_ = true;
    if (threads_ > 1 || relay_) {
      for (auto& context : contexts_) {
        Context* c = context.get();
        c->thread = std::thread([this, c] { serve_thread(*c); });
      }
    }
  }

  void close_executor() {
    if (!open_) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (auto& context : contexts_) context->ready.notify_all();
    }
    for (auto& context : contexts_) {
      if (context->thread.joinable()) context->thread.join();
    }
    relay_.reset();  // ends the rank's child processes
    ObjectStore::instance().clear();
    send_replies();
    std::lock_guard lock(mutex_);
    stopping_ = false;
    open_ = false;
    contexts_.clear();
  }

  /// Reads the records of a `requests` message (bounded by its size: rank 0 is trusted to
  /// be this build, but nothing is read past the end).
  void take_requests(const std::vector<std::byte>& message) {
    std::size_t at = 1;
    const std::size_t end = message.size();
    constexpr std::size_t kHead = sizeof(std::uint32_t) + 1 + sizeof(std::uint64_t);
    while (at + kHead <= end) {
      std::uint32_t thread = 0;
      std::uint64_t size = 0;
      std::memcpy(&thread, message.data() + at, sizeof thread);
      const std::uint8_t flags = static_cast<std::uint8_t>(message[at + sizeof thread]);
      std::memcpy(&size, message.data() + at + sizeof thread + 1, sizeof size);
      at += kHead;
      if (size > end - at || thread >= contexts_.size() || !open_) return;
      const std::byte* frame = message.data() + at;
      at += size;
      Context& context = *contexts_[thread];
      if (threads_ == 1 && !relay_) {
        serve(context, flags, frame, size, inline_outbox_);
        if (inline_outbox_.size() != 0) {
          std::lock_guard lock(mutex_);
          add_reply_locked(0, inline_outbox_.buffer());
          inline_outbox_.clear();
        }
        // A long task's reply does not wait for the rest of the batch.
        if (std::chrono::steady_clock::now() - oldest_reply_ > std::chrono::microseconds(50)) {
          send_replies();
        }
      } else {
        std::lock_guard lock(mutex_);
        context.queue.emplace_back(flags, std::vector<std::byte>(frame, frame + size));
        ++serving_;
        context.ready.notify_one();
      }
    }
  }

  void serve(Context& context, std::uint8_t flags, const std::byte* frame, std::size_t size,
             WireWriter& outbox) {
    const std::uint64_t request = context.requests++;
    context.claims.mark_sent(request);
    if ((flags & kRequestCancelled) != 0) (void)context.claims.try_cancel(request);
    if (!relay_) {
      (void)serve_request(frame, size, request, context.claims, outbox);
      return;
    }
    if (!context.claims.try_start(request)) {
      WireReader in(frame, size);
      append_reply(outbox, read_request_sequence(in), WorkerReply::cancelled);
      return;
    }
    relay_->serve(frame, size, outbox);
  }

  void serve_thread(Context& context) {
    WireWriter outbox;
    std::unique_lock lock(mutex_);
    while (true) {
      context.ready.wait(lock, [&] { return stopping_ || !context.queue.empty(); });
      if (context.queue.empty()) break;  // stopping, and nothing left
      auto [flags, frame] = std::move(context.queue.front());
      context.queue.pop_front();
      lock.unlock();
      serve(context, flags, frame.data(), frame.size(), outbox);
      lock.lock();
      if (outbox.size() != 0) add_reply_locked(context.index, outbox.buffer());
      outbox.clear();
      --serving_;
      idle_.notify_one();
    }
  }

  /// Appends a reply record (`frames` are whole reply frames, size headers included).
  void add_reply_locked(std::uint32_t thread, const std::vector<std::byte>& frames) {
    if (replies_.empty()) {
      replies_.push_back(static_cast<std::byte>(ToParent::replies));
      oldest_reply_ = std::chrono::steady_clock::now();
    }
    std::size_t at = 0;
    while (at + kFrameHeader <= frames.size()) {
      std::uint64_t size = 0;
      std::memcpy(&size, frames.data() + at, sizeof size);
      const std::size_t used = replies_.size();
      replies_.resize(used + sizeof thread + sizeof size + size);
      std::memcpy(replies_.data() + used, &thread, sizeof thread);
      std::memcpy(replies_.data() + used + sizeof thread, &size, sizeof size);
      std::memcpy(replies_.data() + used + sizeof thread + sizeof size,
                  frames.data() + at + kFrameHeader, size);
      at += kFrameHeader + size;
    }
  }

  /// Sends the replies gathered so far, without waiting for the send to complete.
  void send_replies() {
    std::vector<std::byte> batch;
    {
      std::lock_guard lock(mutex_);
      if (replies_.empty()) {
        sends_.test();
        return;
      }
      batch.swap(replies_);
    }
    sends_.send(comm_, parent_, kToParent, std::move(batch));
  }

  /// Sleeps up to `how_long` or until a serving thread has a reply.
  void idle_wait(std::chrono::microseconds how_long) {
    if (how_long.count() == 0) {
      std::this_thread::yield();
      return;
    }
    std::unique_lock lock(mutex_);
    if (!replies_.empty()) return;
    idle_.wait_for(lock, how_long);
  }

  MPI_Comm comm_;
  int parent_;
  bool open_ = false;
  std::uint32_t threads_ = 1;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::unique_ptr<ProcessRelay> relay_;  // isolation by process
  WireWriter inline_outbox_;
  PendingSends sends_;

  std::mutex mutex_;  // guards what follows, shared with the serving threads
  std::condition_variable idle_;
  std::vector<std::byte> replies_;  // a `replies` message being gathered
  std::chrono::steady_clock::time_point oldest_reply_{};
  std::atomic<std::size_t> serving_{0};  // requests queued or running on serving threads
  bool stopping_ = false;
};

}  // namespace confut::detail
