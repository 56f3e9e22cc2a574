#pragma once
// Sending an exception from a worker process back to the parent: the standard exception
// types are rebuilt with their own type; anything else becomes RemoteError, which keeps the
// original type's name and what().

#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include "../errors.hpp"
#include "../serialization.hpp"
#include "type_name.hpp"

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
  return ExceptionKind::other;
}

/// Writes the exception as (kind, type name, what()).
inline void encode_exception(WireWriter& out, const std::exception_ptr& error) {
  ExceptionKind kind = ExceptionKind::other;
  std::string type = "unknown exception";
  std::string what;
  try {
    std::rethrow_exception(error);
  } catch (const RemoteError& e) {  // passed on from a nested remote call: keep its origin
    type = e.remote_type();
    what = e.remote_what();
  } catch (const std::exception& e) {
    kind = kind_of(e);
    type = demangle(typeid(e).name());
    what = e.what();
  } catch (...) {
    what = "an exception not derived from std::exception";
  }
  out.write(static_cast<std::uint8_t>(kind));
  out.write(type);
  out.write(what);
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
    case ExceptionKind::exception:
    case ExceptionKind::other:
    default: return std::make_exception_ptr(RemoteError(type, what));
  }
}

}  // namespace confut::detail
