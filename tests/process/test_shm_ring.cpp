// detail::ShmRing: the shared-memory message ring between the process pool and its workers.
// Messages stay whole across the end of the buffer, a message that does not fit is refused
// whole, and two threads (or processes) hand over many messages in order through the
// spin-then-sleep protocol without losing a wake-up.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <confut/detail/process/shm_ring.hpp>

namespace {

using confut::detail::RingControl;
using confut::detail::ShmRing;

/// A ring over memory of this process.
struct LocalRing {
  explicit LocalRing(std::size_t capacity) : data(capacity), ring(&control, data.data(), capacity) {}
  RingControl control;
  std::vector<std::byte> data;
  ShmRing ring;
};

/// Message `index`: 0 to 99 bytes that depend on the index.
std::vector<std::byte> message_for(std::uint32_t index) {
  std::vector<std::byte> message(index * 7 % 100);
  for (std::size_t i = 0; i < message.size(); ++i) {
    message[i] = static_cast<std::byte>((index + i * 13) & 0xff);
  }
  return message;
}

bool push(ShmRing& ring, const std::vector<std::byte>& message) {
  return ring.try_push(message.data(), message.size());
}

/// Producer side of the hand-off: wait for room, push, wake the consumer if it sleeps.
void push_waiting(ShmRing& ring, const std::vector<std::byte>& message) {
  while (!push(ring, message)) std::this_thread::yield();
  if (ring.take_sleeper()) ring.wake_consumer();
}

/// Consumer side: pops `count` messages (spinning, then sleeping) and checks each.
bool pop_and_check(ShmRing& ring, std::uint32_t count) {
  std::vector<std::byte> message;
  for (std::uint32_t index = 0; index < count; ++index) {
    while (!ring.pop(message)) ring.wait(std::chrono::microseconds(5));
    if (message != message_for(index)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a ring keeps messages whole across the end of its buffer", "[shm_ring]") {
  LocalRing local(64);
  std::vector<std::byte> out;
  // 8-byte header + 21 bytes: positions drift so that headers and payloads both wrap.
  for (std::uint32_t round = 0; round < 100; ++round) {
    std::vector<std::byte> first(21, static_cast<std::byte>(round));
    std::vector<std::byte> second(13, static_cast<std::byte>(round + 1));
    REQUIRE(push(local.ring, first));
    REQUIRE(push(local.ring, second));
    REQUIRE(local.ring.pop(out));
    REQUIRE(out == first);
    REQUIRE(local.ring.pop(out));
    REQUIRE(out == second);
    REQUIRE(local.ring.empty());
    REQUIRE_FALSE(local.ring.pop(out));
  }
}

TEST_CASE("a message larger than the free space is refused whole", "[shm_ring]") {
  LocalRing local(64);
  std::vector<std::byte> out;
  const std::vector<std::byte> big(40, std::byte{1});
  const std::vector<std::byte> medium(30, std::byte{2});
  REQUIRE(push(local.ring, big));          // 48 of 64 bytes used
  REQUIRE_FALSE(push(local.ring, medium));  // needs 38
  REQUIRE(local.ring.pop(out));
  REQUIRE(out == big);
  REQUIRE(local.ring.empty());  // nothing of the refused message was written
  REQUIRE(push(local.ring, medium));
  REQUIRE(local.ring.pop(out));
  REQUIRE(out == medium);

  REQUIRE(local.ring.too_large(57));
  REQUIRE_FALSE(local.ring.too_large(56));
  const std::vector<std::byte> whole(56, std::byte{3});
  REQUIRE(push(local.ring, whole));  // exactly the capacity
  REQUIRE(local.ring.pop(out));
  REQUIRE(out == whole);
}

TEST_CASE("empty messages pass through a ring", "[shm_ring]") {
  LocalRing local(64);
  std::vector<std::byte> out(5);
  REQUIRE(local.ring.try_push(nullptr, 0));
  REQUIRE_FALSE(local.ring.empty());
  REQUIRE(local.ring.pop(out));
  REQUIRE(out.empty());
  REQUIRE(local.ring.empty());
}

TEST_CASE("a consumer that would sleep withdraws when a message is there", "[shm_ring]") {
  LocalRing local(64);
  REQUIRE(local.ring.prepare_sleep());
  REQUIRE(local.ring.take_sleeper());        // the producer sees the sleeper once
  REQUIRE_FALSE(local.ring.take_sleeper());  // and only once
  local.ring.end_sleep();
  REQUIRE(local.ring.try_push(nullptr, 0));
  REQUIRE_FALSE(local.ring.prepare_sleep());  // a message came in: do not sleep
  REQUIRE_FALSE(local.ring.take_sleeper());
  // A wait with nothing to read times out instead of sleeping for ever.
  std::vector<std::byte> out;
  REQUIRE(local.ring.pop(out));
  REQUIRE_FALSE(local.ring.wait(std::chrono::microseconds(1), std::chrono::milliseconds(10)));
}

TEST_CASE("many messages pass between two threads in order", "[shm_ring]") {
  // A small ring: the producer often finds it full, the consumer often finds it empty and
  // sleeps; the pauses make the consumer sleep for real.
  LocalRing local(512);
  constexpr std::uint32_t kCount = 50'000;
  std::thread producer([&] {
    for (std::uint32_t index = 0; index < kCount; ++index) {
      push_waiting(local.ring, message_for(index));
      if (index % 5000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const bool all_good = pop_and_check(local.ring, kCount);
  producer.join();
  REQUIRE(all_good);
  REQUIRE(local.ring.empty());
}

TEST_CASE("a ring in shared memory passes messages to another process", "[shm_ring]") {
  constexpr std::size_t kCapacity = 4096;
  auto memory = confut::detail::SharedMemory::create(sizeof(RingControl) + kCapacity);
  auto* control = new (memory.data()) RingControl{};
  ShmRing ring(control, memory.data() + sizeof(RingControl), kCapacity);
  constexpr std::uint32_t kCount = 20'000;
  const pid_t child = ::fork();
  if (child == 0) {
    // The child maps the same memory (inherited); it pops and checks, and says by its code.
    ::_exit(pop_and_check(ring, kCount) ? 0 : 1);
  }
  REQUIRE(child > 0);
  for (std::uint32_t index = 0; index < kCount; ++index) {
    push_waiting(ring, message_for(index));
    if (index % 4000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}
