/*
 * h2o 2.2.5 keeps freed socket buffers and memory-pool chunks for reuse in thread-local lists
 * that nothing frees when the thread ends (docs/libnotes.md). Every thread that ran an h2o loop
 * calls this before it exits; without it each such thread leaves up to ~200 KiB behind, which
 * LeakSanitizer rightly reports.
 */
#ifndef MM_H2O_CACHES_H
#define MM_H2O_CACHES_H

/** Frees this thread's recycled h2o socket buffers and pool chunks. Call on the loop's thread, last. */
void mm_h2o_release_thread_caches(void);

#endif
