#pragma once
// One step of a spin-wait that tells the CPU so (less power, and the sibling hyper-thread
// gets the core's resources meanwhile).

namespace confut::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace confut::detail
