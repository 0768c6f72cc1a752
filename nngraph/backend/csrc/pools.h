/* Pooling over 2 x 2 windows 2 apart (LeNet's, the usual case), float32, on the vector paths: a row of
 * windows from its two image rows, LANES windows at a time. Each image row is split into its even and odd
 * columns (vsplit_pairs), so the four pixels of LANES windows, offsets 0-3 (top left, top right, bottom
 * left, bottom right), are four vectors, and the work is the general loops' (cells.h) in the same order:
 * the same maxima, offsets (ties to the first; a NaN is never taken, as there) and sums, the same bits.
 * A row shorter than LANES windows (LeNet's 12 and 4) takes masked loads and stores, where the general
 * loops' strided reads (gathers, or scalar code below LANES windows) spent ~95 us on LeNet's 16@8x8.
 * Body of isa_avx512.c and isa_avx2.c (after their vector helpers), not a header. */

/* the even and odd columns of the first 2 * windows floats of row (windows <= LANES) */
static inline void load_pairs(const float *row, Py_ssize_t windows, vec *even, vec *odd) {
    vsplit_pairs(vload_masked(row, first_lanes(2 * windows)), vload_masked(row + LANES, first_lanes(2 * windows - LANES)),
                 even, odd);
}

/* the first 2 * windows floats of row: even[0], odd[0], even[1], ... */
static inline void store_pairs(float *row, Py_ssize_t windows, vec even, vec odd) {
    vec lo, hi;
    vzip_pairs(even, odd, &lo, &hi);
    vstore_masked(row, first_lanes(2 * windows), lo);
    vstore_masked(row + LANES, first_lanes(2 * windows - LANES), hi);
}

static void maxpool_pairs_forward(const float *x, float *best, int32_t *argmax, Py_ssize_t images, Py_ssize_t h,
                                  Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo) {
    for (Py_ssize_t m = 0; m < images; m++)
        for (Py_ssize_t oh = 0; oh < ho; oh++) {
            const float *top = x + (m * h + 2 * oh) * w, *bottom = top + w;
            Py_ssize_t at = (m * ho + oh) * wo;
            for (Py_ssize_t ow = 0; ow < wo; ow += LANES) {
                Py_ssize_t n = wo - ow < LANES ? wo - ow : LANES;
                vec most, b, c, d;
                load_pairs(top + 2 * ow, n, &most, &b);
                load_pairs(bottom + 2 * ow, n, &c, &d);
                ivec where = iset1(0);
                vtake_greater(b, iset1(1), &most, &where);
                vtake_greater(c, iset1(2), &most, &where);
                vtake_greater(d, iset1(3), &most, &where);
                vstore_masked(best + at + ow, first_lanes(n), most);
                istore_masked(argmax + at + ow, first_lanes(n), where);
            }
        }
}

/* the image zeroed only where the windows leave pixels out (an odd last row or column) */
static void maxpool_pairs_backward(const float *g, const int32_t *argmax, float *out, Py_ssize_t images,
                                   Py_ssize_t h, Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo) {
    const int tiles = h == 2 * ho && w == 2 * wo;
    for (Py_ssize_t m = 0; m < images; m++) {
        float *image = out + m * h * w;
        if (!tiles) memset(image, 0, h * w * sizeof(float));
        for (Py_ssize_t oh = 0; oh < ho; oh++) {
            float *top = image + 2 * oh * w, *bottom = top + w;
            Py_ssize_t at = (m * ho + oh) * wo;
            for (Py_ssize_t ow = 0; ow < wo; ow += LANES) {
                Py_ssize_t n = wo - ow < LANES ? wo - ow : LANES;
                vec grad = vload_masked(g + at + ow, first_lanes(n));
                ivec where = iload_masked(argmax + at + ow, first_lanes(n));
                store_pairs(top + 2 * ow, n, vkeep_equal(where, 0, grad), vkeep_equal(where, 1, grad));
                store_pairs(bottom + 2 * ow, n, vkeep_equal(where, 2, grad), vkeep_equal(where, 3, grad));
            }
        }
    }
}

static void avgpool_pairs_forward(const float *x, float *mean, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                  Py_ssize_t ho, Py_ssize_t wo) {
    const vec quarter = vset1(0.25f);
    for (Py_ssize_t m = 0; m < images; m++)
        for (Py_ssize_t oh = 0; oh < ho; oh++) {
            const float *top = x + (m * h + 2 * oh) * w, *bottom = top + w;
            Py_ssize_t at = (m * ho + oh) * wo;
            for (Py_ssize_t ow = 0; ow < wo; ow += LANES) {
                Py_ssize_t n = wo - ow < LANES ? wo - ow : LANES;
                vec a, b, c, d;
                load_pairs(top + 2 * ow, n, &a, &b);
                load_pairs(bottom + 2 * ow, n, &c, &d);
                vstore_masked(mean + at + ow, first_lanes(n), vmul(vadd(vadd(vadd(a, b), c), d), quarter));
            }
        }
}

static void avgpool_pairs_backward(const float *g, float *out, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                   Py_ssize_t ho, Py_ssize_t wo) {
    const int tiles = h == 2 * ho && w == 2 * wo;
    const vec quarter = vset1(0.25f);
    for (Py_ssize_t m = 0; m < images; m++) {
        float *image = out + m * h * w;
        if (!tiles) memset(image, 0, h * w * sizeof(float));
        for (Py_ssize_t oh = 0; oh < ho; oh++) {
            float *top = image + 2 * oh * w, *bottom = top + w;
            Py_ssize_t at = (m * ho + oh) * wo;
            for (Py_ssize_t ow = 0; ow < wo; ow += LANES) {
                Py_ssize_t n = wo - ow < LANES ? wo - ow : LANES;
                vec share = vmul(vload_masked(g + at + ow, first_lanes(n)), quarter);
                store_pairs(top + 2 * ow, n, share, share);
                store_pairs(bottom + 2 * ow, n, share, share);
            }
        }
    }
}
