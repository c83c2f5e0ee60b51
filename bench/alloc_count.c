/* An LD_PRELOAD shim for bench/costs.sh: counts heap allocations (malloc, calloc, realloc,
 * posix_memalign, aligned_alloc, memalign; operator new goes through malloc) and writes the count
 * to $ALLOC_COUNT_FILE every 20 ms, so the benchmark reads allocations per request from
 * outside the process. Never linked into aigw. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong count;

void *malloc(size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_realloc(p, n);
}
void *memalign(size_t a, size_t n) {
  atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
  return __libc_memalign(a, n);
}
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  void *p = memalign(a, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}

static void *writer(void *path) {
  int fd = open((const char *)path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return NULL;
  char buf[32];
  struct timespec t = {0, 20 * 1000 * 1000};
  for (;;) {
    int len = snprintf(buf, sizeof buf, "%020lu\n", atomic_load(&count));
    if (pwrite(fd, buf, (size_t)len, 0) < 0) break;
    nanosleep(&t, NULL);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char *path = getenv("ALLOC_COUNT_FILE");
  if (!path) return;
  static char copy[4096];
  strncpy(copy, path, sizeof copy - 1);
  pthread_t th;
  if (pthread_create(&th, NULL, writer, copy) == 0) pthread_detach(th);
}
