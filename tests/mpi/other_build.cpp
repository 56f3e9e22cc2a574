// Another program with confut's MPI role: run as the last rank of a job whose other ranks run
// test_mpi_pool, it is a worker rank of another build, which rank 0 must refuse.
#include <confut/mpi.hpp>

int main(int argc, char* argv[]) {
  confut::Runtime runtime(argc, argv);  // a worker rank stays in here
  return 0;
}
