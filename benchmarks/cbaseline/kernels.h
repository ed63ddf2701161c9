/* Straightforward float32 kernels: the hand-written C baseline of the benchmarks.
 * Tensors are channels-last (H, W, C); 1-D layers use H = 1.  Weights are laid out
 * so that the innermost loop reads them contiguously (see each kernel). */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

/* Convolution.  w: [oc][kh][kw][ic]; bias may be 0. */
void k_conv2d(const float *in, int ih, int iw, int ic,
              const float *w, const float *bias, int kh, int kw,
              int sh, int sw, int dh, int dw, int pad_top, int pad_left,
              float *out, int oh, int ow, int oc, int relu);

/* Depthwise convolution with depth multiplier m.  w: [ic * m][kh][kw]. */
void k_depthwise(const float *in, int ih, int iw, int ic, int m,
                 const float *w, const float *bias, int kh, int kw,
                 int sh, int sw, int dh, int dw, int pad_top, int pad_left,
                 float *out, int oh, int ow, int relu);

/* Transposed convolution: out[o] gets in[i] * w[t] wherever i * stride + t == o + crop
 * (per axis), gathered per output: only the taps of the output's phase.
 * w: [oc][kh][kw][ic]; bias may be 0. */
void k_conv_transpose(const float *in, int ih, int iw, int ic,
                      const float *w, const float *bias, int kh, int kw,
                      int sh, int sw, int crop_top, int crop_left,
                      float *out, int oh, int ow, int oc, int relu);

/* rows x n inputs -> rows x units outputs.  w: [units][n]. */
void k_dense(const float *in, int rows, int n, const float *w, const float *bias,
             int units, float *out, int relu);

/* Max (avg = 0) or average (avg = 1) pooling; padded positions are skipped. */
void k_pool2d(const float *in, int ih, int iw, int c, int ph, int pw, int sh, int sw,
              int pad_top, int pad_left, float *out, int oh, int ow, int avg, int relu);

/* Max or average over all n positions, per channel. */
void k_global_pool(const float *in, int n, int c, float *out, int avg, int relu);

/* Softmax over the last axis (n values) of each of the rows. */
void k_softmax(const float *in, int rows, int n, float *out);

/* Per-channel y = x * scale[ch] + offset[ch] over n positions of c channels. */
void k_affine(const float *in, int n, int c, const float *scale, const float *offset,
              float *out, int relu);

/* out[i] = a[i] + b[i] over n values (out may be a or b), then the ReLU if asked. */
void k_add(const float *a, const float *b, int n, float *out, int relu);

/* Standalone ReLU. */
void k_relu(const float *in, int n, float *out);

#endif
