#pragma once
// The dispatcher thread of Dispatcher<Transport> (dispatcher.hpp, which includes this at its
// end): its loop, assigning tasks to workers, replies, deaths, timeouts and take-backs.

#include "dispatcher.hpp"

namespace confut::detail {

template <Transport T>
void Dispatcher<T>::dispatch_loop() {
  deferred_callback_sink() = &callbacks_;  // done-callbacks never run here
  while (true) {
    take_submitted();
    assign();
    while (rebalance()) assign();
    // Stalls take 250 ms: looked for after each sleep, and every 64 busy rounds.
    if ((++stall_rounds_ % 64 == 0 || std::exchange(woke_, false)) && take_back_stalled()) {
      assign();
    }
    if (finished()) break;

    // Replies due: a short spin catches them without a wake-up through the kernel. A busy
    // dispatcher still lets the transport look at everything (deaths, large messages) every
    // few rounds.
    const bool replies_awaited = replies_due();
    const auto spin_start = replies_awaited ? Clock::now() : Clock::time_point{};
    const bool busy = replies_awaited && spin_for_work();
    if (busy) dispatcher_spin_.record(std::chrono::nanoseconds(0));
    if (busy && ++busy_rounds_ % 16 != 0) {
      transport_.poll(*this);
    } else {
      int timeout_ms = 0;
      if (!busy) {
        timeout_ms = next_timeout_ms();
        std::lock_guard lock(submit_mutex_);
        if (!submitted_.empty()) continue;
        dispatcher_sleeping_ = true;
      }
      transport_.wait(*this, timeout_ms);
      woke_ = true;
      if (!busy) {
        std::lock_guard lock(submit_mutex_);
        dispatcher_sleeping_ = false;
      }
      if (replies_awaited && !busy) dispatcher_spin_.record(Clock::now() - spin_start);
    }
    handle_terminate_requests();
    enforce_timeouts();
  }
  transport_.close();
  deferred_callback_sink() = nullptr;
  callbacks_.finish();
}

/// Sends pending tasks to ready workers, least loaded first.
template <Transport T>
void Dispatcher<T>::assign() {
  const bool cancelling = cancelling_.load(std::memory_order_acquire);
  const bool broken = core_.broken();
  if (cancelling && !sent_ahead_cancelled_) {
    // shutdown(cancel_futures): tasks waiting in the workers' queues are taken back too.
    sent_ahead_cancelled_ = true;
    for (Slot& slot : slots_) {
      for (InFlight& entry : slot.in_flight) (void)entry.task.state->cancel();
    }
  }
  // Send far ahead only under a long backlog: a task sent to a worker moves to an idle one,
  // or is cancelled, only while the worker has not started it (see claims.hpp).
  const std::size_t window =
      std::clamp<std::size_t>(pending_.size() / slots_.size() + 1, 2, kMaxWindow);
  while (!pending_.empty()) {
    Outgoing task = pending_.front();
    StateBase& state = *task.state;
    if (broken) {
      pending_.pop_front();
      state.fail_before_start(std::make_exception_ptr(BrokenExecutor(core_.broken_reason())));
      retire(state, -1);
      continue;
    }
    if (cancelling) {
      pending_.pop_front();
      state.cancel();
      retire(state, -1);
      continue;
    }
    if (state.code() != kQueued) {  // cancelled meanwhile
      pending_.pop_front();
      retire(state, -1);
      continue;
    }
    std::size_t best = slots_.size();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!can_take(i, window)) continue;
      if (best == slots_.size() || slots_[i].in_flight.size() < slots_[best].in_flight.size()) {
        best = i;
      }
    }
    if (best == slots_.size()) break;
    pending_.pop_front();
    if (!state.try_transition(kQueued, kRunning)) {
      retire(state, -1);
      continue;
    }
    const bool timed = core_.recording();
    const std::int64_t encode_start = timed ? steady_nanoseconds(Clock::now()) : 0;
    scratch_.clear();  // keeps its capacity: no allocation per task
    try {
      // A transport whose workers hold values (remote_objects.hpp) lets the request refer
      // to those that `best` holds instead of carrying them.
      if constexpr (requires { transport_.object_scope(best); }) {
        const auto scope = transport_.object_scope(best);
        task.remote->write_request(scratch_);
      } else {
        task.remote->write_request(scratch_);
      }
    } catch (...) {
      if (task.remote->encoding_failed()) {
        state.set_error(std::current_exception());
        retire(state, -1, nullptr, {}, kFailed);
      } else {
        retire(state, -1);  // cancelled meanwhile
      }
      continue;
    }
    const std::int64_t encode_ns = timed ? steady_nanoseconds(Clock::now()) - encode_start : 0;
    const std::uint64_t sequence = ++next_sequence_ | (timed ? kTimedRequest : 0);
    finish_request(scratch_.buffer(), sequence);
    Slot& slot = slots_[best];
    const std::uint64_t request = slot.requests_sent;
    ClaimBoard& claims = transport_.claims(best);
    claims.mark_sent(request);
    if (!task.remote->set_claim(&claims, request)) {
      retire(state, -1);  // cancelled while it was encoded; the number goes to the next
      continue;
    }
    ++slot.requests_sent;
    if (slot.in_flight.empty()) slot.head_started = Clock::now();
    slot.in_flight.push_back(InFlight{task, sequence, encode_ns, request, false});
    note_in_flight(best);
    ++slot.sent;
    slot.in_flight.back().slow_path = transport_.send(best, scratch_.buffer());
  }
  transport_.flush();
}

template <Transport T>
bool Dispatcher<T>::can_take(std::size_t worker, std::size_t window) const {
  const Slot& slot = slots_[worker];
  if (slot.state != SlotState::ready || slot.in_flight.size() >= window) return false;
  if (slot.stalled && !transport_.requests_drained(worker)) return false;  // take_back_stalled
  if (slot.in_flight.size() + slot.revoked.size() + 1 >= kClaimSlots) return false;
  return settings_.max_tasks_per_child == 0 || slot.sent < settings_.max_tasks_per_child;
}

/// When one worker has nothing queued behind its current task (or no task) while another
/// has at least two more tasks than it, takes back the newest task sent to the busier
/// one, if that worker has not started it yet, and puts it first in pending_ for the next
/// assign(). Tasks sent ahead are thus no longer bound to their worker: a worker that
/// started late (the kernel may take milliseconds to give a woken process a core) or ran
/// slower does not finish its share long after the others (W4: 1-5 ms in a 52 ms run).
/// Returns whether it moved one.
template <Transport T>
bool Dispatcher<T>::rebalance() {
  if (!pending_.empty() || recent_task_ns_ < kRebalanceMinTaskNs) return false;
  std::size_t idlest = slots_.size();
  std::size_t busiest = slots_.size();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.state != SlotState::ready) continue;
    const bool less_loaded =
        idlest == slots_.size() || slot.in_flight.size() < slots_[idlest].in_flight.size();
    if (less_loaded && can_take(i, 2)) idlest = i;
    if (busiest == slots_.size() || slot.in_flight.size() > slots_[busiest].in_flight.size()) {
      busiest = i;
    }
  }
  if (idlest == slots_.size() || busiest == slots_.size()) return false;
  Slot& from = slots_[busiest];
  if (from.in_flight.size() < slots_[idlest].in_flight.size() + 2) return false;
  const InFlight newest = from.in_flight.back();
  if (from.kill_reason != KillReason::none ||
      !newest.task.remote->take_back(*newest.task.state)) {
    return false;  // it has started it (and so every task before it), or it was cancelled
  }
  from.in_flight.pop_back();
  note_in_flight(busiest);
  from.revoked.push_back(newest.request);
  --from.sent;
  pending_.push_front(newest.task);
  return true;
}

template <Transport T>
void Dispatcher<T>::reply(std::size_t worker, const std::byte* data, std::size_t size) {
  Slot& slot = slots_[worker];
  try {
    const Reply parsed = parse_reply(data, size);
    if (parsed.kind == WorkerReply::ready) {
      slot.state = SlotState::ready;
      start_deaths_in_row_ = 0;
      return;
    }
    if (parsed.kind == WorkerReply::init_failed) {
      WireReader in = parsed.payload_reader();
      break_executor("the worker initializer failed: " +
                     describe_exception(decode_exception(in)));
      return;
    }
    if (slot.in_flight.empty() || slot.in_flight.front().sequence != parsed.sequence) return;
    InFlight done = slot.in_flight.front();
    slot.in_flight.pop_front();
    note_in_flight(worker);
    done.task.remote->clear_claim();
    // The worker took every request before this one: their claim slots are free.
    std::erase_if(slot.revoked, [&](std::uint64_t request) { return request < done.request; });
    const auto now = Clock::now();
    if (parsed.kind == WorkerReply::cancelled) {
      // Cancelled before it started (Future::cancel() completed its future); the worker
      // skipped it. (Still kRunning would be a bug; publishing then avoids a hang.)
      slot.head_started = now;
      const bool still_running = done.task.state->code() == kRunning;
      retire(*done.task.state, -1, nullptr, {}, still_running ? kCancelled : kWaiting);
      return;
    }
    note_busy(worker, now - slot.head_started);
    note_task_time(now - slot.head_started);
    slot.head_started = now;
    TaskTimes times;
    times.worker = parsed.times;
    times.encode_ns = done.encode_ns;
    complete(done.task, parsed, worker, parsed.timed ? &times : nullptr);
  } catch (...) {
    fail_undecodable_reply(worker);
  }
}

/// A frame that cannot be read: fails the task it belonged to, if known (inside a catch).
template <Transport T>
void Dispatcher<T>::fail_undecodable_reply(std::size_t worker) {
  Slot& slot = slots_[worker];
  if (slot.in_flight.empty()) return;
  InFlight done = slot.in_flight.front();
  slot.in_flight.pop_front();
  note_in_flight(worker);
  done.task.remote->clear_claim();
  if (done.task.state->code() == kRunning) {
    done.task.state->set_error(std::current_exception());
    retire(*done.task.state, static_cast<int>(worker), nullptr, {}, kFailed);
  } else {
    retire(*done.task.state, -1);  // cancelled meanwhile
  }
}

template <Transport T>
void Dispatcher<T>::complete(Outgoing task, const Reply& reply, std::size_t worker,
                             TaskTimes* times) {
  StateBase& state = *task.state;
  if (state.code() != kRunning) {  // stopped by terminate() before it started
    retire(state, -1);
    return;
  }
  const std::int64_t decode_start = times != nullptr ? steady_nanoseconds(Clock::now()) : 0;
  std::string name;
  std::uint8_t outcome = kFailed;
  WireReader in = reply.payload_reader();
  if (reply.kind == WorkerReply::value) {
    // Named before the reply releases the callable.
    if (core_.recording()) {
      name = core_.recorder().name_for(static_cast<int>(worker), state.name_key(),
                                       [&] { return state.task_name(); });
    }
    outcome = task.remote->store_reply(in);
  } else {
    std::exception_ptr error;
    try {
      error = decode_exception(in);
    } catch (...) {
      error = std::current_exception();
    }
    state.set_error(std::move(error));
  }
  if (times != nullptr) times->decode_ns = steady_nanoseconds(Clock::now()) - decode_start;
  retire(state, static_cast<int>(worker), times, std::move(name), outcome);
}

/// The worker in `worker` has ended and sent its last reply: fail or requeue its tasks and
/// start a replacement.
template <Transport T>
void Dispatcher<T>::worker_gone(std::size_t worker, WorkerEnd end) {
  Slot& slot = slots_[worker];
  const bool was_starting = slot.state == SlotState::starting;
  slot.state = SlotState::idle;
  if (!slot.in_flight.empty()) {
    InFlight head = slot.in_flight.front();
    // The head was started, or its claim still says "sent" (the worker died before it took
    // it, e.g. killed while idle just as the task was sent): then it is taken back and goes
    // to another worker with the rest, never blamed for the death.
    if (!head.task.remote->take_back(*head.task.state)) {
      slot.in_flight.pop_front();
      head.task.remote->clear_claim();
      note_busy(worker, Clock::now() - slot.head_started);
      fail_head(head, slot.kill_reason, end, worker);
    }
    // The rest had not started: other workers take them, in their order (requeue() leaves
    // a head taken back as it is).
    for (auto it = slot.in_flight.rbegin(); it != slot.in_flight.rend(); ++it) {
      it->task.remote->requeue(*it->task.state);
      pending_.push_front(it->task);
    }
    slot.in_flight.clear();
    note_in_flight(worker);
  }
  if (was_starting && !core_.broken()) {
    if (settings_.has_initializer) {
      break_executor("a worker died while starting (" + end.how +
                     "); the initializer may have crashed");
    } else if (++start_deaths_in_row_ >= kMaxStartDeathsInRow) {
      break_executor(std::to_string(start_deaths_in_row_) +
                     " workers in a row died while starting, before any became ready (the last " +
                     end.how + ")");
    }
  }
  if (!core_.broken() && (accepting_.load() || has_work_left())) start_worker(worker);
}

template <Transport T>
void Dispatcher<T>::fail_head(const InFlight& head, KillReason reason, const WorkerEnd& end,
                              std::size_t worker) {
  StateBase& state = *head.task.state;
  std::uint8_t outcome = kWaiting;  // nothing to publish: it is done already
  if (state.code() == kRunning) {
    outcome = kFailed;
    const std::string pid = "pid " + std::to_string(end.pid);
    if (reason == KillReason::terminate) {
      outcome = kCancelled;
    } else if (reason == KillReason::timeout) {
      state.set_error(std::make_exception_ptr(
          TimeoutError("confut: " + state.describe() + " ran past its timeout; its worker (" +
                       pid + ") was killed")));
    } else {
      state.set_error(std::make_exception_ptr(
          WorkerDied("confut: the worker process (" + pid + ") running " + state.describe() +
                         " " + end.how,
                     end.pid, end.signal, end.exit_code)));
    }
  }
  retire(state, static_cast<int>(worker), nullptr, {}, outcome);
}

template <Transport T>
void Dispatcher<T>::handle_terminate_requests() {
  std::vector<StateBase*> requests;
  {
    std::lock_guard lock(submit_mutex_);
    requests.swap(terminate_requests_);
  }
  for (StateBase* target : requests) {
    for (std::size_t w = 0; w < slots_.size(); ++w) {
      Slot& slot = slots_[w];
      for (std::size_t i = 0; i < slot.in_flight.size(); ++i) {
        if (slot.in_flight[i].task.state != target) continue;
        // Not started: cancel() takes it back. Started: the worker runs it now (those
        // before it have finished), so the worker is killed; it fails as cancelled.
        if (target->cancel()) break;
        if (target->code() != kRunning) break;  // finished meanwhile
        if (transport_.kill(w)) slot.kill_reason = KillReason::terminate;
        break;
      }
    }
    target->release();
  }
}

/// When the call the worker runs now started, or nothing while it has not started the
/// task at the head of its queue. The worker notes the start of each task and of each call
/// of a map chunk (note_call_started); a note older than head_started (the previous task's,
/// before this one noted its own) counts from head_started instead.
template <Transport T>
auto Dispatcher<T>::call_started(std::size_t worker) -> std::optional<Clock::time_point> {
  const Slot& slot = slots_[worker];
  if (slot.in_flight.empty() || slot.state == SlotState::idle) return std::nullopt;
  const InFlight& head = slot.in_flight.front();
  ClaimBoard& claims = transport_.claims(worker);
  if (claims.unstarted(head.request) || claims.cancelled(head.request)) return std::nullopt;
  return std::max(steady_time_point(transport_.call_started_ns(worker)), slot.head_started);
}

/// task_timeout counts from the start of each call (not from when a task was sent, nor
/// from the start of its chunk): a task that never started never times out.
template <Transport T>
void Dispatcher<T>::enforce_timeouts() {
  if (!settings_.task_timeout) return;
  const auto now = Clock::now();
  for (std::size_t w = 0; w < slots_.size(); ++w) {
    Slot& slot = slots_[w];
    if (slot.kill_reason != KillReason::none || slot.state == SlotState::idle) continue;
    const std::optional<Clock::time_point> started = call_started(w);
    if (started && now - *started >= *settings_.task_timeout && transport_.kill(w)) {
      slot.kill_reason = KillReason::timeout;
    }
  }
}

/// How long the transport may sleep: until the next call's timeout, or kStallAfter after a
/// task reached the head of a worker's queue unstarted; with task_timeout, a worker whose
/// head has not started is looked at every kStartPoll (the start of a call wakes no one).
template <Transport T>
int Dispatcher<T>::next_timeout_ms() {
  auto earliest = Clock::time_point::max();
  const auto now = Clock::now();
  const auto& timeout = settings_.task_timeout;
  for (std::size_t w = 0; w < slots_.size(); ++w) {
    const Slot& slot = slots_[w];
    if (slot.in_flight.empty() || slot.kill_reason != KillReason::none) continue;
    if (const std::optional<Clock::time_point> started = call_started(w)) {
      if (timeout) earliest = std::min(earliest, *started + *timeout);
      continue;
    }
    if (slot.state == SlotState::idle) continue;
    if (slots_.size() > 1 && !slot.in_flight.front().slow_path && !slot.stalled) {
      // Past due: no other worker could take its tasks then; look again a while later.
      const auto stall_check = std::max(slot.head_started + kStallAfter, now + kStartPoll);
      earliest = std::min(earliest, stall_check);
    }
    if (timeout) earliest = std::min(earliest, now + kStartPoll);
  }
  if (earliest == Clock::time_point::max()) return -1;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(earliest - now);
  return static_cast<int>(std::max<std::int64_t>(0, wait.count()));
}

/// A worker that has not started the task at the head of its queue kStallAfter after it
/// got there (stopped by SIGSTOP, say, or starved of CPU), while another worker could
/// take it: its tasks not started go back to pending_, in order, and it gets no more until
/// it has taken every request off the transport (it is alive then). A head on the
/// transport's slow path is left alone (the worker may still be reading it). Returns whether
/// it moved any.
template <Transport T>
bool Dispatcher<T>::take_back_stalled() {
  std::optional<Clock::time_point> now;  // read once, and only when needed
  bool moved = false;
  for (std::size_t w = 0; w < slots_.size(); ++w) {
    Slot& slot = slots_[w];
    if (slot.stalled && transport_.requests_drained(w)) slot.stalled = false;  // alive again
    if (slot.state != SlotState::ready || slot.in_flight.empty() || slot.stalled ||
        slot.kill_reason != KillReason::none || slot.in_flight.front().slow_path) {
      continue;
    }
    if (!now) now = Clock::now();
    if (*now - slot.head_started < kStallAfter ||
        !transport_.claims(w).unstarted(slot.in_flight.front().request)) {
      continue;
    }
    bool other_can_take = false;
    for (std::size_t other = 0; other < slots_.size(); ++other) {
      if (other != w && can_take(other, kMaxWindow)) other_can_take = true;
    }
    if (!other_can_take) continue;
    slot.stalled = true;
    while (!slot.in_flight.empty()) {
      const InFlight newest = slot.in_flight.back();
      if (!newest.task.remote->take_back(*newest.task.state)) break;  // started after all
      slot.in_flight.pop_back();
      slot.revoked.push_back(newest.request);
      --slot.sent;
      pending_.push_front(newest.task);
      moved = true;
    }
    note_in_flight(w);
  }
  return moved;
}

/// Done when shut down and nothing is pending, waiting or running any more. Then closes
/// the submission queue (under its lock): a submit() that passed its check before the
/// shutdown but enqueues only now has its task cancelled in enqueue().
template <Transport T>
bool Dispatcher<T>::finished() {
  if (accepting_.load(std::memory_order_seq_cst)) return false;
  if (!pending_.empty() || waiting_tasks_.load(std::memory_order_seq_cst) != 0) return false;
  if (replies_due()) return false;
  std::lock_guard lock(submit_mutex_);
  if (!submitted_.empty() || !terminate_requests_.empty()) return false;
  // Again under the lock: a submit that counted a waiting task before it looked at closed_
  // (under this lock) is seen here.
  if (waiting_tasks_.load(std::memory_order_seq_cst) != 0) return false;
  closed_ = true;
  return true;
}

}  // namespace confut::detail
