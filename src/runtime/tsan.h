/*
 * ThreadSanitizer annotations. Concurrency Kit publishes ring slots with inline-assembly
 * fences and stores that TSan cannot see, so without these it would report every hand-over of
 * a message as a data race. They compile to nothing outside a -fsanitize=thread build.
 */
#ifndef MM__TSAN_H
#define MM__TSAN_H

#if defined(__SANITIZE_THREAD__) || defined(MM_SANITIZE_THREAD)
#include <sanitizer/tsan_interface.h>
#define MM__TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define MM__TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define MM__TSAN_RELEASE(addr) ((void)(addr))
#define MM__TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
