#pragma once
/// @file errors.hpp
/// The exception types confut throws, named after their Python counterparts.

#include <stdexcept>
#include <string>
#include <utility>

namespace confut {

/// Base of every error confut raises itself.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The future was cancelled before its task started (`Future::result()` on a cancelled future).
class CancelledError : public Error {
 public:
  CancelledError() : Error("the future was cancelled") {}
  using Error::Error;
};

/// A wait with a timeout ran out before the future was done.
class TimeoutError : public Error {
 public:
  TimeoutError() : Error("timed out waiting for a future") {}
  using Error::Error;
};

/// The executor can no longer run tasks (for example its initializer threw).
class BrokenExecutor : public Error {
 public:
  using Error::Error;
};

/// Waiting would never finish: the waiter is part of a cycle of tasks waiting on each other.
class DeadlockError : public Error {
 public:
  using Error::Error;
};

/// The operation does not fit the future's state (an empty future, a second result, ...).
class InvalidStateError : public Error {
 public:
  using Error::Error;
};

/// `submit` or `map` was called after `shutdown()`.
class ExecutorShutdownError : public Error {
 public:
  ExecutorShutdownError() : Error("cannot schedule new tasks after shutdown()") {}
  using Error::Error;
};

/// A task run in another process threw an exception of a type confut cannot rebuild here
/// (anything but the standard exception types): its type name and message are kept.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, const std::string& what)
      : Error(type_name + ": " + what), type_name_(std::move(type_name)), message_(what) {}
  /// The (demangled) type of the exception thrown in the worker.
  const std::string& remote_type() const noexcept { return type_name_; }
  const std::string& type_name() const noexcept { return type_name_; }
  /// Its what().
  const std::string& remote_what() const noexcept { return message_; }

 private:
  std::string type_name_;
  std::string message_;
};

/// The worker process running a task died (killed by a signal or exited) before finishing it.
class WorkerDied : public Error {
 public:
  WorkerDied(const std::string& what, int pid, int signal, int exit_code)
      : Error(what), pid_(pid), signal_(signal), exit_code_(exit_code) {}
  int pid() const noexcept { return pid_; }
  /// The signal that killed the worker, or 0 if it exited.
  int signal() const noexcept { return signal_; }
  /// The worker's exit status if it exited, or -1 if a signal killed it.
  int exit_code() const noexcept { return exit_code_; }

 private:
  int pid_;
  int signal_;
  int exit_code_;
};

}  // namespace confut
