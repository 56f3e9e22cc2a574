#pragma once
/// @file error_handler.hpp
/// Where errors go that no caller can receive: a failed future that nobody ever looked at,
/// and an exception thrown by a done-callback.

#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

namespace confut {

/// Called with the error and a sentence saying where it came from. It runs on whichever
/// thread dropped the last handle or ran the callback, so it must be thread-safe.
using ErrorHandler = std::function<void(std::exception_ptr error, const std::string& context)>;

namespace detail {

inline std::string describe_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}

inline void print_to_stderr(std::exception_ptr error, const std::string& context) {
  std::fprintf(stderr, "confut: %s: %s\n", context.c_str(), describe_exception(error).c_str());
}

struct ErrorHandlerSlot {
  std::mutex mutex;
  ErrorHandler handler = print_to_stderr;
};

inline ErrorHandlerSlot& error_handler_slot() {
  static ErrorHandlerSlot slot;
  return slot;
}

/// Never throws: an exception from the handler itself is dropped.
inline void report_unhandled_error(std::exception_ptr error, const std::string& context) noexcept {
  ErrorHandler handler;
  {
    auto& slot = error_handler_slot();
    std::lock_guard lock(slot.mutex);
    handler = slot.handler;
  }
  try {
    if (handler) handler(std::move(error), context);
  } catch (...) {
  }
}

}  // namespace detail

/// Replaces the handler for unobserved errors and returns the previous one. The default
/// prints one line on stderr; an empty handler silences the reports.
/// @code
/// auto previous = confut::set_unobserved_error_handler(
///     [](std::exception_ptr, const std::string& context) { log(context); });
/// @endcode
inline ErrorHandler set_unobserved_error_handler(ErrorHandler handler) {
  auto& slot = detail::error_handler_slot();
  std::lock_guard lock(slot.mutex);
  return std::exchange(slot.handler, std::move(handler));
}

}  // namespace confut
