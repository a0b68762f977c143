/* bench/syscall/empty_syscall.c: the cost of one kernel crossing on this machine (bench/uring.py).
 * Times N getppid() system calls (nothing to do in the kernel), 7 rounds; prints the median
 * nanoseconds per call as JSON. Built on the fly by bench/uring.py with the system C compiler. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(void) {
  enum { rounds = 7 };
  const long n = 1000000;
  double ns[rounds];
  for (int r = 0; r < rounds; ++r) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; ++i) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns[r] = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
  }
  qsort(ns, rounds, sizeof ns[0], cmp);
  printf("{\"empty_syscall_ns_median\": %.1f, \"min\": %.1f, \"max\": %.1f}\n", ns[rounds / 2], ns[0],
         ns[rounds - 1]);
  return 0;
}
