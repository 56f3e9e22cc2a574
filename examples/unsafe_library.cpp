// unsafe_library: calling a non-thread-safe library in parallel (ThreadPoolExecutor vs
// ProcessPoolExecutor).
//
// Old C libraries often keep their state between calls in globals: strtok()'s saved pointer,
// asctime()'s static buffer, a checksum or parser API with one global context. Called from one
// thread they are right; called from several threads at once, the callers overwrite each
// other's state and get wrong answers (or crash). Threads cannot fix that short of a lock,
// which serializes the calls. Worker processes can: each has its own copy of every global.
//
// The "library" below checksums records (Adler-32) through a single global context. The
// program checksums 20,000 records with it, one after another (the right answers), then on a
// ThreadPoolExecutor and on a ProcessPoolExecutor, and counts the wrong results of each.
//
// Python equivalent (concurrent.futures; a C extension with global state behaves the same):
//     with ProcessPoolExecutor() as ex:
//         sums = list(ex.map(checksum_record, records, chunksize=250))

#include <confut/confut.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

// ---- "liblegacy": a 1990s C library, written here to keep the example in one file ---------
// Its checksum API keeps the running sums in one global context: begin, feed data in
// pieces, end. The functions are kept out of line, as if the library were a separately
// compiled .a. Two threads in it at once are a data race: undefined behaviour in C and C++,
// which is exactly why such a library must not be called from several threads.
namespace legacy {

struct Context {
  std::uint32_t a;
  std::uint32_t b;
};

Context g_context;  // the library's one global context

[[gnu::noinline]] void checksum_begin() { g_context = {1, 0}; }

[[gnu::noinline]] void checksum_feed(const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    g_context.a = (g_context.a + static_cast<unsigned char>(data[i])) % 65521;
    g_context.b = (g_context.b + g_context.a) % 65521;
  }
}

[[gnu::noinline]] std::uint32_t checksum_end() { return (g_context.b << 16) | g_context.a; }

}  // namespace legacy
// ---- end of the library --------------------------------------------------------------------

// Record `id`, as the application would receive it: a few hundred bytes of text.
std::string make_record(int id) {
  std::string record;
  for (int field = 0; field < 24; ++field) {
    record += "field" + std::to_string(field) + "=" + std::to_string(id * 7919 + field * 104729);
    record += ';';
  }
  return record;
}

// The task: checksum one record with the legacy library, a piece at a time as the record
// streams in. The yield stands for waiting on the next piece (a socket, a file): any pause
// between two calls lets another caller into the library. Correct whenever nobody else uses
// the library meanwhile.
std::uint32_t checksum_record(const std::string& record) {
  constexpr std::size_t kPiece = 64;
  legacy::checksum_begin();
  for (std::size_t start = 0; start < record.size(); start += kPiece) {
    legacy::checksum_feed(record.data() + start, std::min(kPiece, record.size() - start));
    std::this_thread::yield();
  }
  return legacy::checksum_end();
}

constexpr int kRecords = 20'000;
// Calls per task: enough that a task is worth a round trip to a worker process.
constexpr std::size_t kChunk = 250;

// How many of the pool's checksums differ from the right ones.
template <class Executor>
int count_wrong(Executor& ex, const std::vector<std::string>& records,
                const std::vector<std::uint32_t>& expected) {
  int wrong = 0;
  std::size_t i = 0;
  for (std::uint32_t sum : ex.map(checksum_record, records, {.chunksize = kChunk})) {
    if (sum != expected[i++]) ++wrong;
  }
  return wrong;
}

int main(int argc, char** argv) {
  confut::Runtime runtime(argc, argv);  // first: the pool's fork server may start here
  const unsigned cores = std::thread::hardware_concurrency();
  const std::size_t workers = std::max(2u, cores);  // at least two callers at once
  std::vector<std::string> records;
  for (int id = 0; id < kRecords; ++id) records.push_back(make_record(id));

  // One caller at a time: the library's right answers.
  std::vector<std::uint32_t> expected;
  for (const std::string& record : records) expected.push_back(checksum_record(record));

  int threads_wrong = 0, processes_wrong = 0;
  {
    confut::ThreadPoolExecutor ex(workers);
    threads_wrong = count_wrong(ex, records, expected);
  }
  {
    confut::ProcessPoolExecutor ex(workers);
    processes_wrong = count_wrong(ex, records, expected);
  }

  std::printf("unsafe_library: %d checksums through a library with one global context; "
              "%zu workers, hardware_concurrency %u\n\n",
              kRecords, workers, cores);
  std::printf("%-22s %8s %8s\n", "run", "calls", "wrong");
  std::printf("%-22s %8d %8d   (the reference)\n", "one after another", kRecords, 0);
  std::printf("%-22s %8d %8d   <- callers overwrite each other's context\n",
              "ThreadPoolExecutor", kRecords, threads_wrong);
  std::printf("%-22s %8d %8d   <- one context per worker process\n", "ProcessPoolExecutor",
              kRecords, processes_wrong);

  if (threads_wrong == 0) {
    std::printf("\nnote: the threads happened to get every checksum right this time (the "
                "workers never ran the library at the same moment); the code is still wrong\n");
  }
  if (processes_wrong != 0) {
    std::fprintf(stderr, "unsafe_library: %d wrong checksums in worker processes\n",
                 processes_wrong);
    return 1;
  }
  return 0;
}
