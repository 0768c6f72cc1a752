/* The Isa table of the path being compiled (after cells.h and, with PATH_HAS_GEMM, gemm.h,
 * loops.h, convs.h and pools.h: the vector paths): PATH_VAR, PATH_NAME and runs_here() are the including file's. */
const Isa PATH_VAR = {
    PATH_NAME, runs_here,
    lstm_forward_float, lstm_forward_double, lstm_backward_float, lstm_backward_double,
    sgd_float, sgd_double, adam_float, adam_double,
    maxpool_forward_float, maxpool_forward_double, maxpool_backward_float, maxpool_backward_double,
    avgpool_forward_float, avgpool_forward_double, avgpool_backward_float, avgpool_backward_double,
#if PATH_HAS_GEMM
    small_gemm, strips_size, pack_strips, packed_size, pack_transposed, transposed_gemm_columns,
    lstm_forward_rows, lstm_backward_rows, elman_forward_rows, elman_backward_rows, gru_forward_rows,
    gru_backward_rows, mgu_forward_rows, mgu_backward_rows, conv_forward_examples, conv_backward_chunks,
    maxpool_pairs_forward, maxpool_pairs_backward, avgpool_pairs_forward, avgpool_pairs_backward,
#endif
};
