#pragma once
// Where MPIPoolExecutor's workers come from, and Runtime's MPI role.
//
// Launched mode (mpirun / srun): confut::Runtime initializes MPI in every rank; ranks
// 1..N-1 serve in RankWorker until rank 0's Runtime goes, over a duplicate of
// MPI_COMM_WORLD. Spawn mode (the program run alone): an MPIPoolExecutor initializes MPI as
// a singleton and starts its workers with MPI_Comm_spawn (this same program, whose Runtime
// sees a parent and serves); they serve that one executor over the intercommunicator and
// leave when it closes.

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "../../errors.hpp"
#include "../../runtime.hpp"
#include "../../serialization.hpp"
#include "build_id.hpp"
#include "mpi_world.hpp"
#include "rank_worker.hpp"

namespace confut::detail {

/// Runtime's MPI role (see runtime.hpp): under an MPI launcher, initializes MPI; on a
/// worker rank (or a spawned worker) it serves tasks and ends the process when told.
inline void enter_mpi_role(int& argc, char**& argv) {
  if (!launched_by_mpi()) return;
  MpiWorld& world = mpi_world();
  init_mpi(&argc, &argv);
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  if (parent != MPI_COMM_NULL) {  // started by MPI_Comm_spawn: a worker of one executor
    world.spawned_worker = true;
    RankWorker(parent, 0).run();
    MPI_Comm_disconnect(&parent);
    MPI_Finalize();
    world.finalized = true;
    std::exit(0);
  }
  world.launched = true;
  std::atexit([] {
    if (RuntimeRoles& roles = runtime_roles(); roles.leave != nullptr) roles.leave();
  });
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &world.comm), "MPI_Comm_dup");
  MPI_Comm_rank(world.comm, &world.rank);
  MPI_Comm_size(world.comm, &world.size);
  if (world.rank == 0) return;
  RankWorker(world.comm, 0).run();
  MPI_Comm_free(&world.comm);
  MPI_Finalize();
  world.finalized = true;
  std::exit(0);
}

/// Reads the hello of each of `ranks` on `comm` (in order); one silent for 60 s is an error.
inline std::vector<RankHello> read_hellos(MPI_Comm comm, const std::vector<int>& ranks) {
  std::vector<RankHello> hellos;
  std::vector<std::byte> message;
  for (const int rank : ranks) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    Backoff backoff;
    while (true) {
      int arrived = 0;
      MPI_Status status;
      MPI_Iprobe(rank, kToParent, comm, &arrived, &status);
      if (arrived) {
        receive_message(comm, status, message);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw Error("confut: MPI rank " + std::to_string(rank) +
                    " did not say hello within 60 s (does it run this program, with "
                    "confut::Runtime first in main?)");
      }
      const auto step = backoff.next();
      if (step.count() > 0) std::this_thread::sleep_for(step);
    }
    try {
      if (message.empty() || message[0] != static_cast<std::byte>(ToParent::hello)) {
        throw DecodeError("not a hello");
      }
      WireReader in(message.data() + 1, message.size() - 1);
      hellos.push_back(parse_hello(in));
    } catch (const std::exception& e) {
      throw Error("confut: MPI rank " + std::to_string(rank) + " sent a malformed hello (" +
                  e.what() + ")");
    }
  }
  return hellos;
}

inline RankHello own_hello() {
  return RankHello{this_host(), main_build_id(), program_path(),
                   static_cast<std::uint32_t>(::getpid())};
}

/// Launched mode, rank 0: every worker rank's hello, read once.
inline const std::vector<RankHello>& launched_hellos() {
  MpiWorld& world = mpi_world();
  if (!world.hellos_read) {
    std::vector<int> ranks;
    for (int rank = 1; rank < world.size; ++rank) ranks.push_back(rank);
    world.hellos = read_hellos(world.comm, ranks);
    world.hellos.insert(world.hellos.begin(), own_hello());
    world.hellos_read = true;
  }
  return world.hellos;
}

/// ~Runtime() on rank 0 (or exit()): tells the worker ranks to leave, finalizes MPI.
inline void leave_mpi_role() {
  MpiWorld& world = mpi_world();
  if (world.finalized || world.rank != 0) return;
  if (world.launched) {
    world.finalized = true;
    try {
      (void)launched_hellos();  // so that no message is left unreceived
    } catch (const Error&) {
    }
    for (int rank = 1; rank < world.size; ++rank) {
      send_message(world.comm, rank, kToWorker,
                   kind_message(static_cast<std::uint8_t>(ToWorker::exit)));
    }
    MPI_Comm_free(&world.comm);
    if (world.initialized) MPI_Finalize();
  } else if (world.initialized) {  // a singleton that spawned workers
    world.finalized = true;
    MPI_Finalize();
  }
}

inline const bool mpi_role_installed = [] {
  runtime_roles().enter = &enter_mpi_role;
  runtime_roles().leave = &leave_mpi_role;
  return true;
}();

/// The workers of one MPIPoolExecutor: ranks 1..k of a launched job, or k spawned processes.
struct WorkerGroup {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<int> ranks;         // destinations on comm, in slot order
  std::vector<RankHello> hellos;  // one per rank, in the same order
  RankHello self;
  bool spawned = false;
  bool adopted = false;  // the transport took over comm (and ends the spawned workers)

  WorkerGroup() = default;
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;
  ~WorkerGroup() {
    if (!spawned || adopted || comm == MPI_COMM_NULL) return;
    for (const int rank : ranks) {  // the executor failed before its transport existed
      send_message(comm, rank, kToWorker,
                   kind_message(static_cast<std::uint8_t>(ToWorker::exit)));
    }
    MPI_Comm_disconnect(&comm);
  }
};

/// Opens `max_workers` workers (0: every worker rank, or one per hardware thread when
/// spawning). Throws std::invalid_argument when a launched job has fewer worker ranks.
inline void open_worker_group(WorkerGroup& group, std::size_t max_workers) {
  MpiWorld& world = mpi_world();
  if (world.launched) {
    group.self = own_hello();
    const auto available = static_cast<std::size_t>(world.size - 1);
    if (available == 0) {
      throw Error("confut: this MPI job has no worker ranks (start it with mpirun -np 2 or more)");
    }
    if (max_workers > available) {
      throw std::invalid_argument("confut: MPIPoolExecutor: max_workers " +
                                  std::to_string(max_workers) + " but the job has " +
                                  std::to_string(available) + " worker ranks");
    }
    const std::size_t count = max_workers == 0 ? available : max_workers;
    const std::vector<RankHello>& hellos = launched_hellos();
    group.comm = world.comm;
    for (std::size_t r = 1; r <= count; ++r) {
      group.ranks.push_back(static_cast<int>(r));
      group.hellos.push_back(hellos[r]);
    }
    return;
  }
  // Spawn mode: this process becomes an MPI singleton, its workers are new processes.
  if (max_workers > 4096) {
    throw std::invalid_argument("confut: MPIPoolExecutor: max_workers " +
                                std::to_string(max_workers) + " is too many to spawn");
  }
  const std::size_t count =
      max_workers != 0 ? max_workers : std::max(1u, std::thread::hardware_concurrency());
  init_mpi(nullptr, nullptr);
  group.self = own_hello();
  MPI_Info info = MPI_INFO_NULL;
  MPI_Info_create(&info);
  MPI_Info_set(info, "map_by", "slot:OVERSUBSCRIBE");  // k workers were asked for: start k
  std::string command = program_path();  // not /proc/self/exe: the launcher resolves it
  std::vector<int> errors(count, MPI_SUCCESS);
  const int code = MPI_Comm_spawn(command.data(), MPI_ARGV_NULL, static_cast<int>(count), info,
                                  0, MPI_COMM_SELF, &group.comm, errors.data());
  MPI_Info_free(&info);
  check_mpi(code, "MPI_Comm_spawn");
  group.spawned = true;
  for (std::size_t r = 0; r < count; ++r) group.ranks.push_back(static_cast<int>(r));
  group.hellos = read_hellos(group.comm, group.ranks);
}

/// A WorkerGroup opened on construction; a failure part-way still ends what was spawned
/// (the base is complete by then, so its destructor runs).
struct OpenedWorkerGroup : WorkerGroup {
  explicit OpenedWorkerGroup(std::size_t max_workers) { open_worker_group(*this, max_workers); }
};

/// Marks rank 0's one executor open for the life of an MPIPoolExecutor.
class OpenExecutorGuard {
 public:
  OpenExecutorGuard() {
    MpiWorld& world = mpi_world();
    if (!runtime_alive.load()) {
      throw Error(
          "confut: MPIPoolExecutor needs confut::Runtime, constructed first in main (its "
          "workers run this program and serve from there)");
    }
    if (world.finalized) throw Error("confut: MPI has been finalized");
    if (world.rank != 0) throw Error("confut: an MPIPoolExecutor is created on rank 0 only");
    if (world.executor_open) {
      throw Error("confut: one MPIPoolExecutor at a time: the worker ranks serve one executor");
    }
    world.executor_open = true;
  }
  ~OpenExecutorGuard() { mpi_world().executor_open = false; }
  OpenExecutorGuard(const OpenExecutorGuard&) = delete;
  OpenExecutorGuard& operator=(const OpenExecutorGuard&) = delete;
};

}  // namespace confut::detail
