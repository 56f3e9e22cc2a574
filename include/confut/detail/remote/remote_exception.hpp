#pragma once
// Sending an exception from a worker process back to the parent: the standard exception
// types are rebuilt with their own type; anything else becomes RemoteError, which keeps the
// original type's name (of any thrown type: `Custom`, `int`, `const char*`) and what() (the
// text of a thrown string, and of the exceptions nested by std::throw_with_nested).

#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

#include "../../errors.hpp"
#include "../../serialization.hpp"
#include "../core/type_name.hpp"

namespace confut::detail {

enum class ExceptionKind : std::uint8_t {
  other,  // not derived from std::exception, or a type without a rule here
  exception,
  runtime_error,
  logic_error,
  invalid_argument,
  domain_error,
  length_error,
  out_of_range,
  range_error,
  overflow_error,
  underflow_error,
  bad_alloc,
  timeout_error,
  cancelled_error,
  confut_error,
  worker_died,  // followed by pid, signal and exit code (i32 each)
};

template <class E>
bool exactly(const std::exception& e) {
  return typeid(e) == typeid(E);
}

inline ExceptionKind kind_of(const std::exception& e) {
  if (exactly<std::runtime_error>(e)) return ExceptionKind::runtime_error;
  if (exactly<std::logic_error>(e)) return ExceptionKind::logic_error;
  if (exactly<std::invalid_argument>(e)) return ExceptionKind::invalid_argument;
  if (exactly<std::domain_error>(e)) return ExceptionKind::domain_error;
  if (exactly<std::length_error>(e)) return ExceptionKind::length_error;
  if (exactly<std::out_of_range>(e)) return ExceptionKind::out_of_range;
  if (exactly<std::range_error>(e)) return ExceptionKind::range_error;
  if (exactly<std::overflow_error>(e)) return ExceptionKind::overflow_error;
  if (exactly<std::underflow_error>(e)) return ExceptionKind::underflow_error;
  if (exactly<std::bad_alloc>(e)) return ExceptionKind::bad_alloc;
  if (exactly<std::exception>(e)) return ExceptionKind::exception;
  if (exactly<TimeoutError>(e)) return ExceptionKind::timeout_error;
  if (exactly<CancelledError>(e)) return ExceptionKind::cancelled_error;
  if (exactly<Error>(e)) return ExceptionKind::confut_error;
  if (exactly<WorkerDied>(e)) return ExceptionKind::worker_died;
  return ExceptionKind::other;
}

/// The demangled type of the exception being handled (inside a catch block), or "unknown
/// exception" where the runtime cannot tell (a foreign exception).
inline std::string current_exception_type() {
#if defined(__GNUG__)
  if (const std::type_info* type = abi::__cxa_current_exception_type()) {
    return demangle(type->name());
  }
#endif
  return "unknown exception";
}

/// The type to report for `e`: libstdc++'s and libc++'s wrappers of std::throw_with_nested
/// are named after the type they wrap.
inline std::string reported_type(const std::exception& e) {
  std::string type = demangle(typeid(e).name());
  for (const char* wrapper : {"std::_Nested_exception<", "std::__1::__nested<", "std::__nested<"}) {
    const std::size_t length = std::char_traits<char>::length(wrapper);
    if (type.size() > length && type.compare(0, length, wrapper) == 0 && type.back() == '>') {
      return type.substr(length, type.size() - length - 1);
    }
  }
  return type;
}

/// "; nested: TYPE: WHAT" for each exception nested in `e` by std::throw_with_nested.
inline std::string nested_text(const std::exception& e, int depth = 0) {
  const auto* nested = dynamic_cast<const std::nested_exception*>(&e);
  if (nested == nullptr || nested->nested_ptr() == nullptr || depth >= 16) return {};
  try {
    std::rethrow_exception(nested->nested_ptr());
  } catch (const std::exception& inner) {
    return "; nested: " + reported_type(inner) + ": " + inner.what() +
           nested_text(inner, depth + 1);
  } catch (...) {
    return "; nested: " + current_exception_type();
  }
}

/// Writes the exception as (kind, type name, what()).
inline void encode_exception(WireWriter& out, const std::exception_ptr& error) {
  ExceptionKind kind = ExceptionKind::other;
  std::string type = "unknown exception";
  std::string what;
  std::int32_t died[3] = {0, 0, -1};  // a WorkerDied's pid, signal and exit code
  try {
    std::rethrow_exception(error);
  } catch (const RemoteError& e) {  // passed on from a nested remote call: keep its origin
    type = e.remote_type();
    what = e.remote_what();
  } catch (const std::exception& e) {
    kind = kind_of(e);
    type = reported_type(e);
    what = std::string(e.what()) + nested_text(e);
    if (const auto* death = dynamic_cast<const WorkerDied*>(&e)) {
      died[0] = death->pid();
      died[1] = death->signal();
      died[2] = death->exit_code();
    }
  } catch (const char* text) {
    type = "const char*";
    what = text != nullptr ? text : "";
  } catch (const std::string& text) {
    type = "std::string";
    what = text;
  } catch (...) {
    type = current_exception_type();
    what = "an exception not derived from std::exception";
  }
  out.write(static_cast<std::uint8_t>(kind));
  out.write(type);
  out.write(what);
  if (kind == ExceptionKind::worker_died) {
    for (const std::int32_t value : died) out.write(value);
  }
}

/// Rebuilds what encode_exception wrote.
inline std::exception_ptr decode_exception(WireReader& in) {
  const auto kind = static_cast<ExceptionKind>(in.read<std::uint8_t>());
  const auto type = in.read<std::string>();
  const auto what = in.read<std::string>();
  switch (kind) {
    case ExceptionKind::runtime_error: return std::make_exception_ptr(std::runtime_error(what));
    case ExceptionKind::logic_error: return std::make_exception_ptr(std::logic_error(what));
    case ExceptionKind::invalid_argument:
      return std::make_exception_ptr(std::invalid_argument(what));
    case ExceptionKind::domain_error: return std::make_exception_ptr(std::domain_error(what));
    case ExceptionKind::length_error: return std::make_exception_ptr(std::length_error(what));
    case ExceptionKind::out_of_range: return std::make_exception_ptr(std::out_of_range(what));
    case ExceptionKind::range_error: return std::make_exception_ptr(std::range_error(what));
    case ExceptionKind::overflow_error: return std::make_exception_ptr(std::overflow_error(what));
    case ExceptionKind::underflow_error:
      return std::make_exception_ptr(std::underflow_error(what));
    case ExceptionKind::bad_alloc: return std::make_exception_ptr(std::bad_alloc());
    case ExceptionKind::timeout_error: return std::make_exception_ptr(TimeoutError(what));
    case ExceptionKind::cancelled_error: return std::make_exception_ptr(CancelledError(what));
    case ExceptionKind::confut_error: return std::make_exception_ptr(Error(what));
    case ExceptionKind::worker_died: {
      const auto pid = in.read<std::int32_t>();
      const auto signal = in.read<std::int32_t>();
      const auto exit_code = in.read<std::int32_t>();
      return std::make_exception_ptr(WorkerDied(what, pid, signal, exit_code));
    }
    case ExceptionKind::exception:
    case ExceptionKind::other:
    default: return std::make_exception_ptr(RemoteError(type, what));
  }
}

}  // namespace confut::detail
