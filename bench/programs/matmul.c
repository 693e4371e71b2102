/*
 * matmul.c - dense double-precision matrix multiply (floating-point benchmark).
 *
 * A 192x192 matrix A is filled from sin/cos/exp/log/atan of its indices.
 * glibc's i386 libm is x87 code in both builds below: exp, log and atan use
 * the x87 transcendental instructions (f2xm1, frndint, fscale, fyl2x,
 * fpatan, plus fxam and fstsw), sin and cos are glibc's portable C code
 * compiled for x87 (no fsin/fcos); sqrt is sqrtsd or fsqrt inline. Then a
 * normalised power iteration runs: M <- A*M / ||A*M||_F, with the product
 * done as plain i-j-k dot products against a transposed copy (one serial add
 * chain per element, latency-bound: no reassociation without -ffast-math;
 * GCC pairs the SSE2 products into a mulpd, the adds stay scalar addsd), the
 * Frobenius norm through sqrt, and a small sin/exp-driven nudge of the
 * diagonal every iteration so the transcendentals stay on the hot path in a
 * small way. Every iteration's trace and norm are folded into a checksum, as
 * is every element of the final matrix, bit pattern by bit pattern, so a
 * difference in a single bit of any result shows in the output.
 *
 * The benchmark builds this file twice:
 *   matmul-sse  gcc -m32 -O2 -static -msse2 -mfpmath=sse   (SSE2 double:
 *               addsd/mulsd, with some products paired into mulpd)
 *   matmul-x87  gcc -m32 -O2 -static                       (x87, 80-bit stack)
 * The two builds print different numbers (x87 keeps the dot-product
 * accumulator in extended precision); each is compared with its own native
 * run.
 *
 * Usage: matmul [iterations]   (default 500 for an SSE-math build, 140 for an
 *                               x87 one: ~1-1.5 s natively either way)
 * No threads; the matrices are static arrays (.bss).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 192
/* The x87 build runs about 3.5x slower natively, so it does less work by
 * default, to stay near 1-1.5 s like the SSE2 one. */
#if defined(__SSE2_MATH__)
#define DEFAULT_ITERS 500L
#else
#define DEFAULT_ITERS 140L
#endif

static double A[N][N];
static double M[N][N];
static double MT[N][N]; /* M transposed: the inner loop walks both rows */
static double C[N][N];

static uint64_t fold(uint64_t h, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; i++) {
        h ^= (bits >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull; /* FNV-1a 64 */
    }
    return h;
}

static void init(void)
{
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            double x = (double)(i * N + j) * 0.0137;
            double d = (double)(i - j) / N;
            A[i][j] = sin(x) * exp(-4.0 * d * d) + 0.25 * cos(0.37 * i + 0.11 * j) +
                      0.01 * log(1.0 + i + j) - 0.02 * atan(d * 3.0);
            M[i][j] = (i == j) ? 1.0 : 1.0 / (1.0 + i + j);
        }
    }
}

/* The hot loop: C = A * M, M given as MT (transposed). */
static void multiply(void)
{
    for (int j = 0; j < N; j++)
        for (int k = 0; k < N; k++)
            MT[j][k] = M[k][j];
    for (int i = 0; i < N; i++) {
        const double *a = A[i];
        for (int j = 0; j < N; j++) {
            const double *b = MT[j];
            double s = 0.0;
            for (int k = 0; k < N; k++)
                s += a[k] * b[k];
            C[i][j] = s;
        }
    }
}

int main(int argc, char **argv)
{
    long iters = DEFAULT_ITERS;
    if (argc > 1)
        iters = strtol(argv[1], NULL, 10);

    init();
    uint64_t h = 0xcbf29ce484222325ull;
    double trace = 0.0, norm = 0.0;
    for (long t = 0; t < iters; t++) {
        multiply();
        double ss = 0.0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                ss += C[i][j] * C[i][j];
        norm = sqrt(ss);
        double inv = 1.0 / norm;
        trace = 0.0;
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++)
                M[i][j] = C[i][j] * inv;
            trace += M[i][i];
        }
        /* Nudge the diagonal: keeps the iteration from settling to a fixed
         * point and puts a few transcendental calls on the hot path. */
        double nudge = 1e-3 * sin(0.5 * (double)t) * exp(-1e-2 * (double)t);
        for (int i = 0; i < N; i += 16)
            M[i][i] += nudge * sqrt(1.0 + i);
        h = fold(h, trace);
        h = fold(h, norm);
    }

    double sum = 0.0, asum = 0.0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            sum += M[i][j];
            asum += fabs(M[i][j]);
            h = fold(h, M[i][j]);
        }
    }
    printf("matmul: n=%d iterations=%ld\n", N, iters);
    printf("A[0][1]=%.17g A[%d][%d]=%.17g A[%d][%d]=%.17g\n", A[0][1], N / 2, N / 3,
           A[N / 2][N / 3], N - 1, N - 1, A[N - 1][N - 1]);
    printf("last norm=%.17g trace=%.17g\n", norm, trace);
    printf("sum=%.17g abs sum=%.17g\n", sum, asum);
    printf("M[0][0]=%.17g M[%d][%d]=%.17g M[%d][%d]=%.17g\n", M[0][0], N / 2, N / 5,
           M[N / 2][N / 5], N - 1, N - 1, M[N - 1][N - 1]);
    printf("checksum=%016llx\n", (unsigned long long)h);
    return 0;
}
