#pragma once
/// @file errors.hpp
/// The exception types confut throws, named after their Python counterparts.

#include <stdexcept>
#include <string>

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

}  // namespace confut
