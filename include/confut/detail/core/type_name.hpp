#pragma once
// Readable type names for messages (`<Future: finished, type: int>`, deadlock reports).

#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

namespace confut::detail {

inline std::string demangle(const char* mangled) {
#if defined(__GNUG__)
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status == 0 && readable) return readable.get();
#endif
  return mangled;
}

template <class T>
std::string type_name() {
  if constexpr (std::is_void_v<T>) {
    return "void";
  } else {
    return demangle(typeid(T).name());
  }
}

}  // namespace confut::detail
