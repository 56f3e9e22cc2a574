#pragma once
// Naming a function so that another process running the same binary can call it. Addresses
// differ between processes under ASLR (after exec, or in an MPI job), but a function's offset
// inside its module (the executable or a shared library) does not.

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <link.h>

#include "../../errors.hpp"

namespace confut::detail {

/// Where a function lives: a hash of its module's path (0 for the main executable) and its
/// offset from that module's load address.
struct CodeLocation {
  std::uint64_t module = 0;
  std::uint64_t offset = 0;
};

class ModuleTable {
 public:
  static ModuleTable& instance() {
    static ModuleTable table;
    return table;
  }

  CodeLocation locate(const void* address) {
    const auto value = reinterpret_cast<std::uintptr_t>(address);
    std::lock_guard lock(mutex_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      for (const Module& module : modules_) {
        for (const auto& [begin, end] : module.segments) {
          if (value >= begin && value < end) return {module.hash, value - module.base};
        }
      }
      reload();  // a library loaded since the last scan
    }
    throw InvalidStateError("confut: cannot locate this function in any loaded module");
  }

  const void* resolve(CodeLocation location) {
    std::lock_guard lock(mutex_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      for (const Module& module : modules_) {
        if (module.hash == location.module) {
          return reinterpret_cast<const void*>(module.base + location.offset);
        }
      }
      reload();
    }
    throw InvalidStateError("confut: the module of a task's function is not loaded in the worker");
  }

 private:
  struct Module {
    std::uint64_t hash;
    std::uintptr_t base;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> segments;
  };

  ModuleTable() { reload(); }

  static std::uint64_t hash_name(const char* name) {
    if (name == nullptr || *name == '\0') return 0;  // the main executable
    std::uint64_t hash = 1469598103934665603ull;       // FNV-1a
    for (const char* c = name; *c != '\0'; ++c) {
      hash = (hash ^ static_cast<unsigned char>(*c)) * 1099511628211ull;
    }
    return hash == 0 ? 1 : hash;
  }

  void reload() {
    modules_.clear();
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
          auto& modules = *static_cast<std::vector<Module>*>(data);
          Module module{hash_name(info->dlpi_name), info->dlpi_addr, {}};
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const auto& header = info->dlpi_phdr[i];
            if (header.p_type != PT_LOAD) continue;
            const std::uintptr_t begin = info->dlpi_addr + header.p_vaddr;
            module.segments.emplace_back(begin, begin + header.p_memsz);
          }
          modules.push_back(std::move(module));
          return 0;
        },
        &modules_);
  }

  std::mutex mutex_;
  std::vector<Module> modules_;
};

template <class Function>
CodeLocation locate_function(Function* function) {
  return ModuleTable::instance().locate(reinterpret_cast<const void*>(function));
}

template <class Function>
Function* resolve_function(CodeLocation location) {
  return reinterpret_cast<Function*>(const_cast<void*>(ModuleTable::instance().resolve(location)));
}

}  // namespace confut::detail
