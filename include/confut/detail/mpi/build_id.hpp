#pragma once
// Which build a process runs: the GNU build-id note of its main executable (written by the
// linker; Debian's toolchain always writes one). Every rank of an MPI job must run the same
// build, since tasks travel as offsets into it (code_location.hpp).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <elf.h>
#include <link.h>
#include <unistd.h>

namespace confut::detail {

/// The build-id of the main executable as lowercase hex, or "" when it has none.
inline std::string main_build_id() {
  std::string hex;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) -> int {
        // The first module reported is the main executable.
        auto& out = *static_cast<std::string*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& header = info->dlpi_phdr[i];
          if (header.p_type != PT_NOTE) continue;
          const auto* note = reinterpret_cast<const unsigned char*>(info->dlpi_addr + header.p_vaddr);
          const unsigned char* end = note + header.p_memsz;
          while (note + sizeof(ElfW(Nhdr)) <= end) {
            ElfW(Nhdr) nhdr;
            std::memcpy(&nhdr, note, sizeof nhdr);
            const unsigned char* name = note + sizeof nhdr;
            const unsigned char* desc = name + ((nhdr.n_namesz + 3) & ~3u);
            const unsigned char* next = desc + ((nhdr.n_descsz + 3) & ~3u);
            if (next > end) break;
            if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
                std::memcmp(name, "GNU", 4) == 0) {
              static constexpr char kDigits[] = "0123456789abcdef";
              for (std::uint32_t k = 0; k < nhdr.n_descsz; ++k) {
                out += kDigits[desc[k] >> 4];
                out += kDigits[desc[k] & 15];
              }
              return 1;
            }
            note = next;
          }
        }
        return 1;  // only the main executable
      },
      &hex);
  return hex;
}

/// The path of the running program, for messages.
inline std::string program_path() {
  char buffer[4096];
  const ssize_t length = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return length > 0 ? std::string(buffer, static_cast<std::size_t>(length)) : std::string("?");
}

}  // namespace confut::detail
