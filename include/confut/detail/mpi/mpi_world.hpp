#pragma once
// The process-wide MPI state of confut: whether this process was started by an MPI launcher
// (mpirun, srun), MPI's initialization and finalization, the communicator between rank 0
// and the worker ranks, and the messages on it.
//
//   rank 0 -> worker:  tag kToWorker:  u8 kind (open, requests, close, exit) | body
//   worker -> rank 0:  tag kToParent:  u8 kind (hello, replies, closed) | body
//
// One tag each way, so MPI's ordering (messages between two ranks on one tag arrive in the
// order sent) orders control messages and requests alike. A `requests` body is a list of
// records  u32 thread | u8 flags | u64 size | request frame (without its size header);  a
// `replies` body a list of  u32 thread | u64 size | reply frame.  Only rank 0's dispatcher
// thread and the worker's main thread call MPI (MPI_THREAD_SERIALIZED).

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../errors.hpp"
#include "../../serialization.hpp"

namespace confut::detail {

inline constexpr int kToWorker = 1;
inline constexpr int kToParent = 2;

enum class ToWorker : std::uint8_t {
  open = 1,
  requests = 2,
  close = 3,
  exit = 4,
  store = 5,  // u64 id | the encoded value: keep it (remote_objects.hpp)
  drop = 6,   // u64 id: let it go
};
enum class ToParent : std::uint8_t { hello = 10, replies = 11, closed = 12 };

/// A request record's flags.
inline constexpr std::uint8_t kRequestCancelled = 1;  // cancelled before it was sent

/// What a worker rank says of itself once, when it starts serving.
struct RankHello {
  std::string host;
  std::string build_id;
  std::string program;
  std::uint32_t pid = 0;
};

/// What rank 0 tells a worker rank when an executor opens.
struct OpenMessage {
  std::uint32_t threads = 1;
  bool process_isolation = false;  // tasks run in child processes of the rank
  std::int64_t task_timeout_ns = 0;  // with process isolation; 0: none
  bool time_calls = false;
  bool has_initializer = false;
  std::uint64_t initializer_module = 0;
  std::uint64_t initializer_offset = 0;
};

/// This process's MPI state.
struct MpiWorld {
  bool launched = false;     // started by an MPI launcher
  bool initialized = false;  // confut called MPI_Init_thread (and will finalize)
  bool finalized = false;
  bool spawned_worker = false;   // started by MPI_Comm_spawn from a parent
  MPI_Comm comm = MPI_COMM_NULL;  // rank 0 and the worker ranks (launched mode)
  int rank = 0;
  int size = 1;
  bool executor_open = false;  // at most one MPIPoolExecutor at a time (rank 0)
  bool hellos_read = false;    // rank 0 has read every worker rank's hello
  std::vector<RankHello> hellos;  // by rank (rank 0: its own)
};

inline MpiWorld& mpi_world() {
  static MpiWorld world;
  return world;
}

/// Whether an MPI launcher started this process (its environment says so).
inline bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

inline void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string("confut: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

/// Initializes MPI for confut (serialized calls from several threads), once.
inline void init_mpi(int* argc, char*** argv) {
  MpiWorld& world = mpi_world();
  int already = 0;
  MPI_Initialized(&already);
  if (already) {
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED) {
      throw Error(
          "confut: MPI was initialized without MPI_THREAD_SERIALIZED; let confut::Runtime "
          "initialize it, or ask for at least that level");
    }
    return;
  }
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  world.initialized = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    throw Error("confut: this MPI does not provide MPI_THREAD_SERIALIZED");
  }
}

// ---- messages ----

/// A blocking send of a small message.
inline void send_message(MPI_Comm comm, int to, int tag, const std::vector<std::byte>& bytes) {
  check_mpi(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, to, tag, comm),
            "MPI_Send");
}

/// Receives the message that `status` (from MPI_Iprobe) announced.
inline void receive_message(MPI_Comm comm, const MPI_Status& status, std::vector<std::byte>& into) {
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  into.resize(static_cast<std::size_t>(count));
  MPI_Status ignored;
  check_mpi(MPI_Recv(into.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, comm,
                     &ignored),
            "MPI_Recv");
}

/// Messages sent without waiting (MPI_Isend), each kept until MPI is done with it.
class PendingSends {
 public:
  void send(MPI_Comm comm, int to, int tag, std::vector<std::byte> bytes) {
    auto pending = std::make_unique<Pending>();
    pending->bytes = std::move(bytes);
    check_mpi(MPI_Isend(pending->bytes.data(), static_cast<int>(pending->bytes.size()), MPI_BYTE,
                        to, tag, comm, &pending->request),
              "MPI_Isend");
    sends_.push_back(std::move(pending));
    test();
  }
  /// Lets go of the sends that completed (in order; MPI progresses them meanwhile).
  void test() {
    while (!sends_.empty()) {
      int done = 0;
      MPI_Test(&sends_.front()->request, &done, MPI_STATUS_IGNORE);
      if (!done) break;
      sends_.pop_front();
    }
  }
  void finish() {
    for (auto& pending : sends_) MPI_Wait(&pending->request, MPI_STATUS_IGNORE);
    sends_.clear();
  }
  bool empty() const noexcept { return sends_.empty(); }

 private:
  struct Pending {
    std::vector<std::byte> bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  std::deque<std::unique_ptr<Pending>> sends_;
};

inline std::vector<std::byte> hello_message(const RankHello& hello) {
  WireWriter out;
  out.write(static_cast<std::uint8_t>(ToParent::hello));
  out.write(hello.pid);
  out.write(hello.host);
  out.write(hello.build_id);
  out.write(hello.program);
  return std::move(out.buffer());
}

inline RankHello parse_hello(WireReader& in) {
  RankHello hello;
  hello.pid = in.read<std::uint32_t>();
  hello.host = in.read<std::string>();
  hello.build_id = in.read<std::string>();
  hello.program = in.read<std::string>();
  return hello;
}

inline std::vector<std::byte> open_message(const OpenMessage& open) {
  WireWriter out;
  out.write(static_cast<std::uint8_t>(ToWorker::open));
  out.write(open.threads);
  out.write(static_cast<std::uint8_t>(open.time_calls));
  out.write(static_cast<std::uint8_t>(open.has_initializer));
  out.write(open.initializer_module);
  out.write(open.initializer_offset);
  out.write(static_cast<std::uint8_t>(open.process_isolation));
  out.write(open.task_timeout_ns);
  return std::move(out.buffer());
}

inline OpenMessage parse_open(WireReader& in) {
  OpenMessage open;
  open.threads = in.read<std::uint32_t>();
  open.time_calls = in.read<std::uint8_t>() != 0;
  open.has_initializer = in.read<std::uint8_t>() != 0;
  open.initializer_module = in.read<std::uint64_t>();
  open.initializer_offset = in.read<std::uint64_t>();
  open.process_isolation = in.read<std::uint8_t>() != 0;
  open.task_timeout_ns = in.read<std::int64_t>();
  return open;
}

inline std::vector<std::byte> kind_message(std::uint8_t kind) {
  return std::vector<std::byte>{static_cast<std::byte>(kind)};
}

inline std::string this_host() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  return std::string(name, static_cast<std::size_t>(length));
}

/// Waiting without a blocking MPI call (MPI's blocking calls poll at full speed): look,
/// spin a little, then sleep in steps that grow from microseconds to a millisecond, so an
/// idle rank costs next to no CPU and a busy one answers within microseconds.
class Backoff {
 public:
  static constexpr auto kSpin = std::chrono::microseconds(200);
  static constexpr auto kLongestSleep = std::chrono::microseconds(1000);

  void reset() { idle_since_ = Clock::now(); step_ = std::chrono::microseconds(4); }

  /// How long to sleep before the next look (zero: spin).
  std::chrono::microseconds next() {
    if (Clock::now() - idle_since_ < kSpin) return std::chrono::microseconds(0);
    const auto step = step_;
    step_ = std::min(step_ * 2, kLongestSleep);
    return step;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point idle_since_ = Clock::now();
  std::chrono::microseconds step_{4};
};

}  // namespace confut::detail
