/*
 * memory.c - memory-bound work.
 *
 *   1. pointer chasing over a 64 MiB linked list laid out as a random cyclic
 *      permutation (Sattolo's algorithm: one single cycle through all 16 Mi
 *      nodes), so nearly every step is a cache and TLB miss;
 *   2. streaming: a 32 MiB -> 32 MiB transforming copy and a sum over both
 *      arrays (sequential, bandwidth bound);
 *   3. a random-access histogram over 16 MiB of counters.
 * All arrays come from malloc. The checksum of every phase is printed.
 *
 * Usage: memory [rounds]   (default sized for ~1-2 s natively; the list is
 * built once, then each round chases, streams and histograms again)
 * No floating point, no threads, few syscalls (malloc's mmaps, one write).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_ROUNDS 1
#define LIST_NODES (16u << 20)          /* 16 Mi x 4 bytes = 64 MiB */
#define CHASE_STEPS (8u << 20)          /* per round */
#define STREAM_WORDS (8u << 20)         /* 8 Mi x 4 bytes = 32 MiB each */
#define STREAM_PASSES 3                 /* per round */
#define HIST_BUCKETS (4u << 20)         /* 4 Mi x 4 bytes = 16 MiB */
#define HIST_SAMPLES (8u << 20)         /* per round */

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t xorshift32(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        printf("out of memory (%u bytes)\n", (unsigned)n);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    long rounds = DEFAULT_ROUNDS;
    if (argc > 1)
        rounds = strtol(argv[1], NULL, 10);
    if (rounds <= 0)
        rounds = 1;

    /*
     * 1. build the list: Sattolo's shuffle gives a single n-cycle i -> next[i]
     * (so after exactly LIST_NODES steps the chase is back at node 0 and its
     * sum is n(n-1)/2: `memory 2` checks that: node=0 chase=00007fffff800000).
     */
    uint32_t *next = xmalloc(LIST_NODES * sizeof(uint32_t));
    for (uint32_t i = 0; i < LIST_NODES; i++)
        next[i] = i;
    for (uint32_t i = LIST_NODES - 1; i > 0; i--) {
        uint32_t j = xorshift32() % i;
        uint32_t t = next[i];
        next[i] = next[j];
        next[j] = t;
    }

    uint32_t *src = xmalloc(STREAM_WORDS * sizeof(uint32_t));
    uint32_t *dst = xmalloc(STREAM_WORDS * sizeof(uint32_t));
    for (uint32_t i = 0; i < STREAM_WORDS; i++)
        src[i] = i * 2654435761u;

    uint32_t *hist = xmalloc(HIST_BUCKETS * sizeof(uint32_t));
    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        hist[i] = 0;

    uint32_t node = 0;
    uint64_t chase_sum = 0;
    uint64_t stream_sum = 0;
    uint32_t hist_check = 0;

    for (long r = 0; r < rounds; r++) {
        /* pointer chase */
        for (uint32_t s = 0; s < CHASE_STEPS; s++) {
            node = next[node];
            chase_sum += node;
        }

        /* streaming copy + sums */
        for (int pass = 0; pass < STREAM_PASSES; pass++) {
            uint32_t k = (uint32_t)(r * STREAM_PASSES + pass) * 0x01000193u;
            for (uint32_t i = 0; i < STREAM_WORDS; i++)
                dst[i] = (src[i] ^ k) + i;
            uint32_t s1 = 0, s2 = 0;
            for (uint32_t i = 0; i < STREAM_WORDS; i++) {
                s1 += dst[i];
                s2 ^= src[i] + s1;
            }
            stream_sum += s1;
            stream_sum ^= (uint64_t)s2 << 21;
            /* feed back so passes depend on each other */
            src[pass] = s1;
        }

        /* random-access histogram */
        for (uint32_t s = 0; s < HIST_SAMPLES; s++) {
            uint32_t x = xorshift32();
            hist[x & (HIST_BUCKETS - 1)] += (x >> 28) + 1;
        }
    }

    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        hist_check = hist_check * 33u + hist[i];

    uint32_t csum = (uint32_t)chase_sum ^ (uint32_t)(chase_sum >> 32) ^ (uint32_t)stream_sum ^
                    (uint32_t)(stream_sum >> 32) ^ hist_check ^ node;
    printf("memory: rounds=%ld node=%u chase=%08x%08x stream=%08x%08x hist=%08x\n", rounds,
           (unsigned)node, (unsigned)(chase_sum >> 32), (unsigned)chase_sum,
           (unsigned)(stream_sum >> 32), (unsigned)stream_sum, (unsigned)hist_check);
    printf("checksum=%08x\n", (unsigned)csum);
    free(hist);
    free(dst);
    free(src);
    free(next);
    return 0;
}
