/* Heap churn: small blocks from brk, large ones from mmap, realloc growth (mremap), and
 * explicit mmap/mprotect/munmap. Prints checksums only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint32_t rng = 12345;
static uint32_t next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

int main(void)
{
    enum { SLOTS = 512 };
    static unsigned char *slot[SLOTS];
    static size_t size[SLOTS];
    uint32_t sum = 0;
    for (int round = 0; round < 20000; round++) {
        int i = next() % SLOTS;
        if (slot[i]) {
            for (size_t k = 0; k < size[i]; k += 97)
                sum += slot[i][k];
            free(slot[i]);
            slot[i] = 0;
        } else {
            /* Mostly small; one in 64 is above the 128 KiB mmap threshold. */
            size[i] = (next() % 64 == 0) ? 128 * 1024 + next() % (512 * 1024) : 1 + next() % 2048;
            slot[i] = malloc(size[i]);
            if (!slot[i])
                return 3;
            memset(slot[i], (unsigned char)i, size[i]);
        }
    }
    printf("churn sum=%u\n", sum);

    /* realloc growth through the mmap range (glibc uses mremap there). */
    unsigned char *g = malloc(200 * 1024);
    for (int i = 0; i < 200 * 1024; i++)
        g[i] = (unsigned char)(i * 7);
    for (size_t n = 256 * 1024; n <= 8 * 1024 * 1024; n *= 2) {
        g = realloc(g, n);
        if (!g)
            return 4;
        g[n - 1] = 0x5a;
    }
    uint32_t gs = 0;
    for (int i = 0; i < 200 * 1024; i++)
        gs += g[i];
    printf("realloc kept=%u tail=%x\n", gs, g[8 * 1024 * 1024 - 1]);
    free(g);

    /* sbrk directly */
    void *b0 = sbrk(0);
    void *b1 = sbrk(1 << 20);
    printf("sbrk moved=%d\n", b1 == b0 && sbrk(0) == (char *)b0 + (1 << 20));
    memset(b1, 1, 1 << 20);
    sbrk(-(1 << 20));

    /* explicit mappings */
    size_t len = 16 * 4096;
    unsigned char *m = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 5;
    printf("mmap zeroed=%d aligned=%d\n", m[0] == 0 && m[len - 1] == 0, ((uintptr_t)m & 4095) == 0);
    memset(m, 0xab, len);
    printf("mprotect ro=%d\n", mprotect(m, len, PROT_READ) == 0);
    printf("still readable=%x\n", m[len / 2]);
    printf("munmap half=%d\n", munmap(m + len / 2, len / 2) == 0);
    unsigned char *fixed = mmap(m + len / 2, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed remap=%d zero=%d\n", fixed == m + len / 2, fixed[0] == 0);
    printf("munmap all=%d\n", munmap(m, len) == 0);
    printf("bad munmap=%d\n", munmap((void *)4097, 4096));
    return 0;
}
