/*
 * mm_h2o_release_thread_caches (include/mm/h2o_caches.h): the socket buffers through their public
 * prototype; the pool chunks, whose list is private, by taking every recycled chunk into a pool
 * of its own and freeing it directly.
 */
#include <stdlib.h>

#include <h2o.h>

#include "mm/h2o_caches.h"

void
mm_h2o_release_thread_caches(void)
{
    h2o_mem_recycle_t *buffers = &h2o_socket_buffer_prototype.allocator;
    while (buffers->cnt > 0)
        free(h2o_mem_alloc_recycle(buffers, 1));
    for (int i = 0; i < 64; i++) { /* more than the recycler ever keeps (16) */
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        h2o_mem_alloc_pool(&pool, 1); /* a recycled chunk while there is one, then fresh ones */
        free(pool.chunks);            /* the pool's only chunk, with nothing shared or direct */
    }
}
