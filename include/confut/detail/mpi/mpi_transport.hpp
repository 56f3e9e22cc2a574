#pragma once
// detail::MpiTransport: the Transport (remote/transport.hpp) of MPIPoolExecutor, on rank 0.
// Slot w is thread w % threads of worker rank w / threads (in `ranks`). Requests queued by
// send() go out in one message per rank at flush(); replies come in batches
// (mpi_world.hpp has the layout). Only the dispatcher thread calls MPI, except in the
// constructor and close(), which run before it starts and on it.
//
// Claims: a rank's memory is not rank 0's, so a request's claim is settled here when it is
// sent: a task sent to a rank counts as started (it is neither taken back for another rank
// nor cancelled any more; tasks still queued on rank 0 are). A request cancelled before it
// went out is sent marked cancelled, and the rank answers "cancelled".

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../remote/claims.hpp"
#include "../remote/protocol.hpp"
#include "../remote/remote_objects.hpp"
#include "../remote/transport.hpp"
#include "mpi_world.hpp"

namespace confut::detail {

struct MpiTransportConfig {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<int> ranks;             // the worker ranks, in slot order
  std::uint32_t threads_per_rank = 1;
  std::vector<std::string> labels;    // one per slot
  OpenMessage open;                   // what each rank is told
  std::string failure;                // not empty: no worker can start (e.g. another build)
  bool spawned = false;               // spawned workers: close() ends them and disconnects
  bool* adopted = nullptr;            // set once this transport owns the workers
};

/// Values scattered to the worker ranks: posted from any thread, sent by the dispatcher
/// thread (before any request that refers to them: one tag, in order).
class MpiObjects final : public ObjectDirectory {
 public:
  struct Post {
    bool store = true;  // else drop
    std::uint64_t id = 0;
    std::vector<std::size_t> holders;
    std::shared_ptr<const std::vector<std::byte>> bytes;
  };

  explicit MpiObjects(std::size_t ranks) : ranks_(ranks) {}

  std::shared_ptr<ObjectTicket> scatter(std::vector<std::byte> bytes, bool broadcast,
                                        const std::shared_ptr<MpiObjects>& self) {
    auto ticket = std::make_shared<ObjectTicket>();
    std::lock_guard lock(mutex_);
    ticket->id = ++last_id_;
    if (broadcast) {
      for (std::size_t r = 0; r < ranks_; ++r) ticket->holders.push_back(r);
    } else {
      ticket->holders.push_back(next_holder_++ % ranks_);
    }
    ticket->directory = self;
    posts_.push_back(Post{true, ticket->id, ticket->holders,
                          std::make_shared<const std::vector<std::byte>>(std::move(bytes))});
    ++live_;
    return ticket;
  }

  void post_drop(std::uint64_t id, const std::vector<std::size_t>& holders) override {
    std::lock_guard lock(mutex_);
    posts_.push_back(Post{false, id, holders, nullptr});
    --live_;
  }

  std::deque<Post> take_posts() {
    std::lock_guard lock(mutex_);
    return std::exchange(posts_, {});
  }

  /// Scattered values whose futures still exist.
  std::size_t live() const {
    std::lock_guard lock(mutex_);
    return live_;
  }

 private:
  const std::size_t ranks_;
  mutable std::mutex mutex_;
  std::deque<Post> posts_;
  std::uint64_t last_id_ = 0;
  std::size_t next_holder_ = 0;
  std::size_t live_ = 0;
};

class MpiTransport {
 public:
  MpiTransport(std::size_t slots, MpiTransportConfig config)
      : config_(std::move(config)),
        boards_(std::make_unique<ClaimBoard[]>(slots)),
        sent_(slots, 0),
        staged_(config_.ranks.size()),
        opened_(config_.ranks.size(), false),
        slots_(slots),
        objects_(std::make_shared<MpiObjects>(config_.ranks.size())) {
    if (config_.adopted != nullptr) *config_.adopted = true;
  }

  MpiTransport(const MpiTransport&) = delete;
  MpiTransport& operator=(const MpiTransport&) = delete;
  ~MpiTransport() { close(); }

  std::size_t worker_count() const noexcept { return slots_; }

  std::string start(std::size_t slot) {
    if (!config_.failure.empty()) return config_.failure;
    const std::size_t rank_index = slot / config_.threads_per_rank;
    for (auto& word : boards_[slot].words) word.store(0, std::memory_order_relaxed);
    sent_[slot] = 0;
    if (!opened_[rank_index]) {
      send_message(config_.comm, config_.ranks[rank_index], kToWorker,
                   open_message(config_.open));
      opened_[rank_index] = true;
    }
    started_.push_back(slot);
    return {};
  }

  ClaimBoard& claims(std::size_t slot) noexcept { return boards_[slot]; }

  bool send(std::size_t slot, std::vector<std::byte>& frame) {
    const std::uint64_t request = sent_[slot]++;
    // Settled here: from now on the rank decides (see the top of this file).
    const bool cancelled = !boards_[slot].try_start(request);
    const std::size_t rank_index = slot / config_.threads_per_rank;
    std::vector<std::byte>& out = staged_[rank_index];
    if (out.empty()) out.push_back(static_cast<std::byte>(ToWorker::requests));
    const auto thread = static_cast<std::uint32_t>(slot % config_.threads_per_rank);
    const std::uint8_t flags = cancelled ? kRequestCancelled : 0;
    const std::uint64_t size = frame.size() - kFrameHeader;
    const std::size_t used = out.size();
    out.resize(used + sizeof thread + 1 + sizeof size + size);
    std::byte* at = out.data() + used;
    std::memcpy(at, &thread, sizeof thread);
    at[sizeof thread] = static_cast<std::byte>(flags);
    std::memcpy(at + sizeof thread + 1, &size, sizeof size);
    std::memcpy(at + sizeof thread + 1 + sizeof size, frame.data() + kFrameHeader, size);
    bytes_sent_.store(bytes_sent_.load(std::memory_order_relaxed) + size, std::memory_order_relaxed);
    return false;
  }

  void flush() {
    send_objects();  // before the requests that may refer to them
    for (std::size_t r = 0; r < staged_.size(); ++r) {
      if (staged_[r].empty()) continue;
      sends_.send(config_.comm, config_.ranks[r], kToWorker, std::exchange(staged_[r], {}));
    }
  }

  template <TransportEvents Sink>
  bool poll(Sink& sink) {
    bool any = false;
    while (!started_.empty()) {
      const std::size_t slot = started_.front();
      started_.pop_front();
      sink.worker_started(slot);
      any = true;
    }
    send_objects();
    sends_.test();
    while (true) {
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kToParent, config_.comm, &arrived, &status);
      if (!arrived) break;
      receive_message(config_.comm, status, inbox_);
      any = true;
      deliver(status.MPI_SOURCE, sink);
    }
    return any;
  }

  bool replies_waiting() const {
    if (!started_.empty()) return true;
    int arrived = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, kToParent, config_.comm, &arrived, MPI_STATUS_IGNORE);
    return arrived != 0;
  }

  /// No blocking MPI call: looks, spins a little, then sleeps in growing steps (Backoff),
  /// and a wake() ends the sleep at once.
  template <TransportEvents Sink>
  void wait(Sink& sink, int timeout_ms) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = timeout_ms < 0 ? Clock::time_point::max()
                                         : Clock::now() + std::chrono::milliseconds(timeout_ms);
    Backoff backoff;
    while (true) {
      if (poll(sink)) return;
      {
        std::unique_lock lock(wake_mutex_);
        if (std::exchange(woken_, false)) return;
        if (Clock::now() >= deadline) return;
        auto step = backoff.next();
        if (!sends_.empty()) step = std::min(step, std::chrono::microseconds(20));
        if (step.count() > 0) {
          const auto until = std::min(deadline, Clock::now() + step);
          wake_.wait_until(lock, until, [&] { return woken_; });
          if (std::exchange(woken_, false)) {
            lock.unlock();
            poll(sink);
            return;
          }
        }
      }
    }
  }

  void wake() {
    std::lock_guard lock(wake_mutex_);
    woken_ = true;
    wake_.notify_one();
  }

  /// A thread of a rank cannot be stopped from outside.
  bool kill(std::size_t) { return false; }
  bool requests_drained(std::size_t) const { return true; }
  std::int64_t call_started_ns(std::size_t) const noexcept { return 0; }
  std::string label(std::size_t slot) const { return config_.labels[slot]; }

  /// Tells every rank it opened to close, and waits until each has (the dispatcher closes
  /// only when every reply is in, so each answers at once).
  void close() {
    if (closed_) return;
    closed_ = true;
    if (config_.spawned) {
      // Spawned workers serve one executor: they leave, and the intercommunicator goes.
      for (const int rank : config_.ranks) {
        sends_.send(config_.comm, rank, kToWorker,
                    kind_message(static_cast<std::uint8_t>(ToWorker::exit)));
      }
      sends_.finish();
      MPI_Comm_disconnect(&config_.comm);
      return;
    }
    std::size_t waiting = 0;
    for (std::size_t r = 0; r < opened_.size(); ++r) {
      if (!opened_[r]) continue;
      send_message(config_.comm, config_.ranks[r], kToWorker,
                   kind_message(static_cast<std::uint8_t>(ToWorker::close)));
      ++waiting;
    }
    Backoff backoff;
    while (waiting > 0) {
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, kToParent, config_.comm, &arrived, &status);
      if (!arrived) {
        sends_.test();
        const auto step = backoff.next();
        if (step.count() > 0) std::this_thread::sleep_for(step);
        continue;
      }
      receive_message(config_.comm, status, inbox_);
      backoff.reset();
      if (!inbox_.empty() && inbox_[0] == static_cast<std::byte>(ToParent::closed)) --waiting;
    }
    sends_.finish();
  }

  /// Bytes of requests (frames without headers) and of scattered values sent to the ranks so
  /// far (read from any thread).
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_.load(std::memory_order_relaxed); }

  /// Keeps `bytes` (an encoded value) on one worker rank, or on every one (any thread).
  std::shared_ptr<ObjectTicket> scatter(std::vector<std::byte> bytes, bool broadcast) {
    auto ticket = objects_->scatter(std::move(bytes), broadcast, objects_);
    wake();
    return ticket;
  }
  std::size_t scattered_objects() const { return objects_->live(); }

  /// While the dispatcher encodes a request for `slot`: which values it may refer to (none
  /// with isolation by process, whose child processes do not see the rank's store).
  ObjectScope object_scope(std::size_t slot) const noexcept {
    if (config_.open.process_isolation) return ObjectScope(nullptr, 0);
    return ObjectScope(objects_.get(), slot / config_.threads_per_rank);
  }

 private:
  /// Sends what was scattered or dropped since the last look (dispatcher thread).
  void send_objects() {
    if (closed_) return;
    for (MpiObjects::Post& post : objects_->take_posts()) {
      for (const std::size_t holder : post.holders) {
        WireWriter out;
        out.write(static_cast<std::uint8_t>(post.store ? ToWorker::store : ToWorker::drop));
        out.write(post.id);
        if (post.store) {
          out.write_bytes(post.bytes->data(), post.bytes->size());
          bytes_sent_.store(bytes_sent_.load(std::memory_order_relaxed) + post.bytes->size(),
                            std::memory_order_relaxed);
        }
        sends_.send(config_.comm, config_.ranks[holder], kToWorker, std::move(out.buffer()));
      }
    }
  }

  /// Hands the records of a message from `source` to the sink; a message that does not
  /// parse (bytes from another process are untrusted) breaks the executor.
  template <class Sink>
  void deliver(int source, Sink& sink) {
    std::size_t rank_index = config_.ranks.size();
    for (std::size_t r = 0; r < config_.ranks.size(); ++r) {
      if (config_.ranks[r] == source) rank_index = r;
    }
    const auto malformed = [&](const char* why) {
      sink.transport_failed("rank " + std::to_string(source) + " sent a malformed message (" +
                            why + ")");
    };
    if (rank_index == config_.ranks.size()) return malformed("not a worker of this executor");
    if (inbox_.empty()) return malformed("empty");
    const auto kind = static_cast<ToParent>(inbox_[0]);
    if (kind == ToParent::closed || kind == ToParent::hello) return;
    if (kind != ToParent::replies) return malformed("unknown kind");
    std::size_t at = 1;
    constexpr std::size_t kHead = sizeof(std::uint32_t) + sizeof(std::uint64_t);
    while (at < inbox_.size()) {
      if (inbox_.size() - at < kHead) return malformed("truncated record");
      std::uint32_t thread = 0;
      std::uint64_t size = 0;
      std::memcpy(&thread, inbox_.data() + at, sizeof thread);
      std::memcpy(&size, inbox_.data() + at + sizeof thread, sizeof size);
      at += kHead;
      if (thread >= config_.threads_per_rank) return malformed("no such thread");
      if (size > inbox_.size() - at) return malformed("truncated reply");
      sink.reply(rank_index * config_.threads_per_rank + thread, inbox_.data() + at, size);
      at += size;
    }
  }

  MpiTransportConfig config_;
  std::unique_ptr<ClaimBoard[]> boards_;
  std::vector<std::uint64_t> sent_;                // requests sent per slot
  std::vector<std::vector<std::byte>> staged_;     // per rank, until flush()
  std::vector<bool> opened_;                       // per rank
  PendingSends sends_;
  std::deque<std::size_t> started_;                // slots to report as started
  std::vector<std::byte> inbox_;
  std::atomic<std::uint64_t> bytes_sent_{0};  // written by the dispatcher thread only
  std::size_t slots_;
  bool closed_ = false;
  std::shared_ptr<MpiObjects> objects_;

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool woken_ = false;
};

static_assert(Transport<MpiTransport>);

}  // namespace confut::detail
