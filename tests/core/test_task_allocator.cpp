// TaskAllocator: the cache that recycles the memory of tasks and shared states. Blocks must
// never overlap, may be freed by any thread, and none may be lost when a thread exits (ASan's
// leak checker runs these tests).

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include <confut/confut.hpp>

#include "test_support.hpp"

using namespace confut_test;
using confut::detail::TaskAllocator;

namespace {
struct Block {
  void* pointer;
  std::size_t size;
};

/// Fills a block with a byte derived from its number, so that overlapping blocks show.
void stamp(const Block& block, std::size_t number) {
  std::memset(block.pointer, static_cast<int>(number % 251), block.size);
}
bool stamp_intact(const Block& block, std::size_t number) {
  const auto* bytes = static_cast<const unsigned char*>(block.pointer);
  for (std::size_t i = 0; i < block.size; ++i) {
    if (bytes[i] != number % 251) return false;
  }
  return true;
}

std::vector<Block> allocate_all_sizes(std::size_t rounds) {
  std::vector<Block> blocks;
  for (std::size_t round = 0; round < rounds; ++round) {
    for (std::size_t size = 1; size <= TaskAllocator::kMaxBlockSize + 64; size += 7) {
      blocks.push_back({TaskAllocator::allocate(size), size});
      stamp(blocks.back(), blocks.size() - 1);
    }
  }
  return blocks;
}

void free_all(std::vector<Block>& blocks) {
  for (const Block& block : blocks) TaskAllocator::deallocate(block.pointer, block.size);
  blocks.clear();
}
}  // namespace

static_assert(TaskAllocator::block_size(104) == 104, "a 104-byte task fills a 112-byte chunk");
static_assert(TaskAllocator::block_size(105) == 120);
static_assert(TaskAllocator::block_size(1) == 8);
static_assert(TaskAllocator::block_size(TaskAllocator::kMaxBlockSize) ==
              TaskAllocator::kMaxBlockSize);

TEST_CASE("TaskAllocator: a block freed on a thread is reused by that thread's next allocation") {
  void* first = TaskAllocator::allocate(100);
  TaskAllocator::deallocate(first, 100);
  void* second = TaskAllocator::allocate(100);
  CHECK(second == first);
  TaskAllocator::deallocate(second, 100);
}

TEST_CASE("TaskAllocator: live blocks of many sizes never overlap, also after recycling") {
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<Block> blocks = allocate_all_sizes(200);
    for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(stamp_intact(blocks[i], i));
    // Free every other block and allocate again: recycled blocks land between live ones.
    std::vector<Block> kept;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 2 == 0) {
        TaskAllocator::deallocate(blocks[i].pointer, blocks[i].size);
        blocks[i] = {TaskAllocator::allocate(blocks[i].size), blocks[i].size};
      }
      stamp(blocks[i], i + 1);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) REQUIRE(stamp_intact(blocks[i], i + 1));
    free_all(blocks);
  }
}

TEST_CASE("TaskAllocator: blocks allocated on one thread can be freed on another, both ways") {
  constexpr std::size_t kBlocks = 20'000;
  for (int round = 0; round < 3; ++round) {
    std::vector<Block> made_here;
    for (std::size_t i = 0; i < kBlocks; ++i) {
      made_here.push_back({TaskAllocator::allocate(48 + i % 200), 48 + i % 200});
      stamp(made_here.back(), i);
    }
    std::vector<Block> made_there;
    std::thread other([&] {
      for (std::size_t i = 0; i < kBlocks; ++i) REQUIRE(stamp_intact(made_here[i], i));
      free_all(made_here);
      for (std::size_t i = 0; i < kBlocks; ++i) {
        made_there.push_back({TaskAllocator::allocate(64 + i % 300), 64 + i % 300});
        stamp(made_there.back(), i);
      }
    });
    other.join();
    for (std::size_t i = 0; i < kBlocks; ++i) REQUIRE(stamp_intact(made_there[i], i));
    free_all(made_there);
  }
}

TEST_CASE("TaskAllocator: a thread's cached blocks go to the depot when it exits") {
  TaskAllocator::release_depot();
  REQUIRE(TaskAllocator::depot_bytes() == 0);
  std::thread worker([] {
    std::vector<Block> blocks = allocate_all_sizes(3);
    free_all(blocks);  // all of them fit in the thread's magazines
  });
  worker.join();
  CHECK(TaskAllocator::depot_bytes() > 0);
  TaskAllocator::release_depot();
  CHECK(TaskAllocator::depot_bytes() == 0);
}

namespace {
/// Frees its block from a thread_local destructor that runs after the allocator's own.
struct LateFree {
  Block block{nullptr, 0};
  ~LateFree() {
    if (block.pointer != nullptr) TaskAllocator::deallocate(block.pointer, block.size);
  }
};
}  // namespace

TEST_CASE("TaskAllocator: a block freed after the thread's cache is gone goes to the heap") {
  std::thread worker([] {
    static thread_local LateFree late;  // constructed first, so destroyed last
    void* warm = TaskAllocator::allocate(80);
    TaskAllocator::deallocate(warm, 80);  // the cache now exists
    late.block = {TaskAllocator::allocate(80), 80};
  });
  worker.join();  // ASan reports a leak or a bad free if the late block was mishandled
  SUCCEED();
}

TEST_CASE("TaskAllocator: the depot gives back blocks nobody needed for a whole period") {
  TaskAllocator::release_depot();
  std::thread filler([] {
    std::vector<Block> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back({TaskAllocator::allocate(200), 200});
    free_all(blocks);
  });
  filler.join();
  REQUIRE(TaskAllocator::depot_bytes() > 0);
  // Each visit to the depot after a period frees what stayed unused through the last one;
  // a fresh thread's allocation of another size visits it.
  auto visit = [] {
    std::thread visitor([] { TaskAllocator::deallocate(TaskAllocator::allocate(400), 400); });
    visitor.join();
  };
  for (int period = 0; period < 3 && TaskAllocator::depot_bytes() > 0; ++period) {
    std::this_thread::sleep_for(TaskAllocator::kDecayPeriod + std::chrono::milliseconds(100));
    visit();
  }
  // What is left is at most the block the last visitor cached for its 400-byte object.
  CHECK(TaskAllocator::depot_bytes() <= TaskAllocator::block_size(400));
  TaskAllocator::release_depot();
}

TEST_CASE("TaskAllocator: tasks and futures recycle their memory through many bursts") {
  confut::ThreadPoolExecutor ex(2);
  for (int burst = 0; burst < 5; ++burst) {
    std::vector<confut::Future<int>> futures;
    for (int i = 0; i < 10'000; ++i) futures.push_back(ex.submit(ident, i));
    std::vector<confut::Future<int>> chained;
    for (int i = 0; i < 1'000; ++i) chained.push_back(ex.submit(add, futures[i], futures[i + 1]));
    std::int64_t sum = 0;
    for (const auto& future : futures) sum += future.result();
    CHECK(sum == 10'000LL * 9'999 / 2);
    for (int i = 0; i < 1'000; ++i) CHECK(chained[i].result() == 2 * i + 1);
  }
}
