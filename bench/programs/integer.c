/*
 * integer.c - integer / branchy work, loosely in the spirit of CoreMark.
 *
 * Each iteration runs:
 *   - a small quicksort + insertion sort of a pseudo-random array,
 *   - a bitwise (table-free) CRC-32 over a buffer,
 *   - bit manipulation (popcount, bit reverse, leading zeros by loops),
 *   - a data-dependent state machine scanning a byte string,
 *   - a small integer matrix multiply,
 *   - integer hashing (FNV-1a / murmur-style mixing) with 64-bit arithmetic.
 * Every stage feeds a running checksum that is printed at the end.
 *
 * Usage: integer [iterations]   (default sized for ~1-2 s natively)
 * No floating point, no threads, one write at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_ITERS 28000
#define SORT_N 512
#define BUF_N 2048
#define MAT_N 16

static uint32_t rng_state = 0x12345678u;

static uint32_t xorshift32(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

static void insertion_sort(int32_t *a, int lo, int hi)
{
    for (int i = lo + 1; i <= hi; i++) {
        int32_t v = a[i];
        int j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static void quick_sort(int32_t *a, int lo, int hi)
{
    while (hi - lo > 16) {
        int mid = lo + (hi - lo) / 2;
        /* median of three */
        if (a[mid] < a[lo]) { int32_t t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
        if (a[hi] < a[lo]) { int32_t t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
        if (a[hi] < a[mid]) { int32_t t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
        int32_t pivot = a[mid];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                int32_t t = a[i]; a[i] = a[j]; a[j] = t;
                i++;
                j--;
            }
        }
        if (j - lo < hi - i) {
            quick_sort(a, lo, j);
            lo = i;
        } else {
            quick_sort(a, i, hi);
            hi = j;
        }
    }
    insertion_sort(a, lo, hi);
}

static uint32_t crc32_bitwise(const uint8_t *p, int n, uint32_t crc)
{
    crc = ~crc;
    for (int i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            if (crc & 1)
                crc = (crc >> 1) ^ 0xEDB88320u;
            else
                crc >>= 1;
        }
    }
    return ~crc;
}

static uint32_t popcount_loop(uint32_t x)
{
    uint32_t c = 0;
    while (x) {
        x &= x - 1;
        c++;
    }
    return c;
}

static uint32_t bit_reverse(uint32_t x)
{
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
    x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
    return (x >> 16) | (x << 16);
}

static uint32_t clz_loop(uint32_t x)
{
    uint32_t n = 0;
    if (x == 0)
        return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* CoreMark-like state machine: classify tokens in a byte string. */
enum { S_START, S_INT, S_HEX, S_SIGN, S_IDENT, S_INVALID, S_COUNT };

static uint32_t state_machine(const uint8_t *s, int n, uint32_t counts[S_COUNT])
{
    int state = S_START;
    uint32_t transitions = 0;
    for (int i = 0; i < n; i++) {
        uint8_t c = s[i];
        int next = state;
        if (c == ',' || c == ' ') {
            counts[state]++;
            next = S_START;
        } else {
            switch (state) {
            case S_START:
                if (c >= '0' && c <= '9')
                    next = S_INT;
                else if (c == '+' || c == '-')
                    next = S_SIGN;
                else if ((c >= 'a' && c <= 'z') || c == '_')
                    next = S_IDENT;
                else
                    next = S_INVALID;
                break;
            case S_SIGN:
                next = (c >= '0' && c <= '9') ? S_INT : S_INVALID;
                break;
            case S_INT:
                if (c == 'x')
                    next = S_HEX;
                else if (!(c >= '0' && c <= '9'))
                    next = S_INVALID;
                break;
            case S_HEX:
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                    next = S_INVALID;
                break;
            case S_IDENT:
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                    next = S_INVALID;
                break;
            default:
                break;
            }
        }
        if (next != state)
            transitions++;
        state = next;
    }
    counts[state]++;
    return transitions;
}

static uint32_t matmul(int32_t a[MAT_N][MAT_N], int32_t b[MAT_N][MAT_N], int32_t c[MAT_N][MAT_N])
{
    uint32_t sum = 0;
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int32_t acc = 0;
            for (int k = 0; k < MAT_N; k++)
                acc += a[i][k] * b[k][j];
            c[i][j] = acc;
            sum += (uint32_t)acc ^ (uint32_t)(i * 31 + j);
        }
    return sum;
}

static uint64_t hash_mix(uint64_t h, uint32_t v)
{
    /* FNV-1a over the bytes, then a murmur-style 64-bit finaliser. */
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (i * 8)) & 0xff;
        h *= 0x100000001B3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static const char alphabet[] = "0123456789abcdefx+-_,, zq";

int main(int argc, char **argv)
{
    long iters = DEFAULT_ITERS;
    if (argc > 1)
        iters = strtol(argv[1], NULL, 10);
    if (iters <= 0)
        iters = 1;

    static int32_t arr[SORT_N];
    static uint8_t buf[BUF_N];
    static int32_t ma[MAT_N][MAT_N], mb[MAT_N][MAT_N], mc[MAT_N][MAT_N];
    uint32_t counts[S_COUNT] = { 0 };
    uint32_t crc = 0;
    uint32_t bits = 0;
    uint32_t sorted_sum = 0;
    uint32_t sm = 0;
    uint32_t mm = 0;
    uint64_t h = 0xcbf29ce484222325ull;

    for (long it = 0; it < iters; it++) {
        /* sort */
        for (int i = 0; i < SORT_N; i++)
            arr[i] = (int32_t)(xorshift32() % 100000u) - 50000;
        quick_sort(arr, 0, SORT_N - 1);
        for (int i = 1; i < SORT_N; i++)
            if (arr[i - 1] > arr[i]) {
                printf("sort failed\n");
                return 1;
            }
        sorted_sum = sorted_sum * 31u + (uint32_t)arr[it % SORT_N] + (uint32_t)arr[SORT_N / 2];

        /* buffer for CRC and the state machine */
        for (int i = 0; i < BUF_N; i++)
            buf[i] = (uint8_t)alphabet[xorshift32() % (sizeof(alphabet) - 1)];
        crc = crc32_bitwise(buf, BUF_N, crc);
        sm += state_machine(buf, BUF_N, counts);

        /* bit manipulation */
        for (int i = 0; i < 512; i++) {
            uint32_t x = xorshift32() >> (i & 15);
            bits += popcount_loop(x);
            bits ^= bit_reverse(x + bits);
            bits += clz_loop(x) * 7u;
            if (x & 1)
                bits = (bits << 3) | (bits >> 29);
            else
                bits -= x >> 5;
        }

        /* matrix multiply */
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++) {
                ma[i][j] = (int32_t)(xorshift32() & 0xff) - 128;
                mb[i][j] = (int32_t)(xorshift32() & 0xff) - 128;
            }
        mm += matmul(ma, mb, mc);

        /* hashing with 64-bit arithmetic on a 32-bit target */
        for (int i = 0; i < 256; i++)
            h = hash_mix(h, (uint32_t)arr[i] ^ crc ^ (uint32_t)i);
        h += (uint64_t)(mm ^ bits) << 7;
        h /= 3; /* 64-bit division calls libgcc's __udivdi3 */
    }

    uint32_t csum = crc ^ bits ^ sorted_sum ^ sm ^ mm ^ (uint32_t)h ^ (uint32_t)(h >> 32);
    for (int s = 0; s < S_COUNT; s++)
        csum = csum * 131u + counts[s];
    printf("integer: iters=%ld crc=%08x bits=%08x sort=%08x sm=%u mm=%08x hash=%08x%08x\n",
           iters, (unsigned)crc, (unsigned)bits, (unsigned)sorted_sum, (unsigned)sm,
           (unsigned)mm, (unsigned)(h >> 32), (unsigned)h);
    printf("checksum=%08x\n", (unsigned)csum);
    return 0;
}
