/* Straightforward float32 kernels: the hand-written C baseline of the benchmarks.
 * Loops over output pixels and channels, one accumulator in a register, bias as the
 * accumulator's start value, fused ReLU, window bounds hoisted out of the inner
 * loops, weights stored in the order the inner loop reads them. */
#include <math.h>
#include "kernels.h"

/* First tap k in [0, taps) whose input coordinate start + k * dil is >= 0. */
static int first_tap(int start, int dil, int taps)
{
    int k = start >= 0 ? 0 : (-start + dil - 1) / dil;
    return k < taps ? k : taps;
}

/* One past the last tap whose input coordinate start + k * dil is < n. */
static int end_tap(int start, int dil, int taps, int n)
{
    if (start >= n)
        return 0;
    int k = (n - start + dil - 1) / dil;
    return k < taps ? k : taps;
}

static float activate(float v, int relu)
{
    return relu && v < 0.0f ? 0.0f : v;
}

void k_conv2d(const float *in, int ih, int iw, int ic,
              const float *w, const float *bias, int kh, int kw,
              int sh, int sw, int dh, int dw, int pad_top, int pad_left,
              float *out, int oh, int ow, int oc, int relu)
{
    const int wsize = kh * kw * ic;
    for (int oy = 0; oy < oh; oy++) {
        const int y0 = oy * sh - pad_top;
        const int ky0 = first_tap(y0, dh, kh), ky1 = end_tap(y0, dh, kh, ih);
        for (int ox = 0; ox < ow; ox++) {
            const int x0 = ox * sw - pad_left;
            const int kx0 = first_tap(x0, dw, kw), kx1 = end_tap(x0, dw, kw, iw);
            float *o = out + (oy * ow + ox) * oc;
            for (int co = 0; co < oc; co++) {
                const float *wc = w + co * wsize;
                float acc = bias ? bias[co] : 0.0f;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = in + (y0 + ky * dh) * iw * ic;
                    const float *wr = wc + ky * kw * ic;
                    if (dw == 1) {
                        /* the taps of one kernel row: one contiguous run of inputs and weights */
                        const float *px = row + (x0 + kx0) * ic;
                        const float *pw = wr + kx0 * ic;
                        const int n = (kx1 - kx0) * ic;
                        for (int j = 0; j < n; j++)
                            acc += px[j] * pw[j];
                        continue;
                    }
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *px = row + (x0 + kx * dw) * ic;
                        const float *pw = wr + kx * ic;
                        for (int ci = 0; ci < ic; ci++)
                            acc += px[ci] * pw[ci];
                    }
                }
                o[co] = activate(acc, relu);
            }
        }
    }
}

void k_conv_transpose(const float *in, int ih, int iw, int ic,
                      const float *w, const float *bias, int kh, int kw,
                      int sh, int sw, int crop_top, int crop_left,
                      float *out, int oh, int ow, int oc, int relu)
{
    const int wsize = kh * kw * ic;
    for (int oy = 0; oy < oh; oy++) {
        const int py = oy + crop_top;
        for (int ox = 0; ox < ow; ox++) {
            const int px = ox + crop_left;
            float *o = out + (oy * ow + ox) * oc;
            for (int co = 0; co < oc; co++) {
                const float *wc = w + co * wsize;
                float acc = bias ? bias[co] : 0.0f;
                /* the taps of this output's phase: ky = py mod sh, then every sh-th */
                for (int ky = py % sh; ky < kh; ky += sh) {
                    const int iy = (py - ky) / sh;
                    if (iy >= ih)
                        continue;
                    if (iy < 0)
                        break;
                    for (int kx = px % sw; kx < kw; kx += sw) {
                        const int ix = (px - kx) / sw;
                        if (ix >= iw)
                            continue;
                        if (ix < 0)
                            break;
                        const float *pi = in + (iy * iw + ix) * ic;
                        const float *pw = wc + (ky * kw + kx) * ic;
                        for (int ci = 0; ci < ic; ci++)
                            acc += pi[ci] * pw[ci];
                    }
                }
                o[co] = activate(acc, relu);
            }
        }
    }
}

void k_depthwise(const float *in, int ih, int iw, int ic, int m,
                 const float *w, const float *bias, int kh, int kw,
                 int sh, int sw, int dh, int dw, int pad_top, int pad_left,
                 float *out, int oh, int ow, int relu)
{
    const int oc = ic * m;
    for (int oy = 0; oy < oh; oy++) {
        const int y0 = oy * sh - pad_top;
        const int ky0 = first_tap(y0, dh, kh), ky1 = end_tap(y0, dh, kh, ih);
        for (int ox = 0; ox < ow; ox++) {
            const int x0 = ox * sw - pad_left;
            const int kx0 = first_tap(x0, dw, kw), kx1 = end_tap(x0, dw, kw, iw);
            float *o = out + (oy * ow + ox) * oc;
            for (int co = 0; co < oc; co++) {
                const float *pin = in + co / m;
                const float *wc = w + co * kh * kw;
                float acc = bias ? bias[co] : 0.0f;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = pin + (y0 + ky * dh) * iw * ic;
                    for (int kx = kx0; kx < kx1; kx++)
                        acc += row[(x0 + kx * dw) * ic] * wc[ky * kw + kx];
                }
                o[co] = activate(acc, relu);
            }
        }
    }
}

void k_dense(const float *in, int rows, int n, const float *w, const float *bias,
             int units, float *out, int relu)
{
    for (int r = 0; r < rows; r++) {
        const float *x = in + r * n;
        for (int j = 0; j < units; j++) {
            const float *wj = w + j * n;
            float acc = bias ? bias[j] : 0.0f;
            for (int i = 0; i < n; i++)
                acc += x[i] * wj[i];
            out[r * units + j] = activate(acc, relu);
        }
    }
}

void k_pool2d(const float *in, int ih, int iw, int c, int ph, int pw, int sh, int sw,
              int pad_top, int pad_left, float *out, int oh, int ow, int avg, int relu)
{
    for (int oy = 0; oy < oh; oy++) {
        const int y0 = oy * sh - pad_top;
        const int ky0 = first_tap(y0, 1, ph), ky1 = end_tap(y0, 1, ph, ih);
        for (int ox = 0; ox < ow; ox++) {
            const int x0 = ox * sw - pad_left;
            const int kx0 = first_tap(x0, 1, pw), kx1 = end_tap(x0, 1, pw, iw);
            const float scale = 1.0f / (float)((ky1 - ky0) * (kx1 - kx0));
            float *o = out + (oy * ow + ox) * c;
            for (int ch = 0; ch < c; ch++) {
                float acc = avg ? 0.0f : -INFINITY;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = in + (y0 + ky) * iw * c + ch;
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float v = row[(x0 + kx) * c];
                        if (avg)
                            acc += v;
                        else if (v > acc)
                            acc = v;
                    }
                }
                o[ch] = activate(avg ? acc * scale : acc, relu);
            }
        }
    }
}

void k_global_pool(const float *in, int n, int c, float *out, int avg, int relu)
{
    const float scale = 1.0f / (float)n;
    for (int ch = 0; ch < c; ch++) {
        float acc = avg ? 0.0f : -INFINITY;
        for (int i = 0; i < n; i++) {
            const float v = in[i * c + ch];
            if (avg)
                acc += v;
            else if (v > acc)
                acc = v;
        }
        out[ch] = activate(avg ? acc * scale : acc, relu);
    }
}

void k_softmax(const float *in, int rows, int n, float *out)
{
    for (int r = 0; r < rows; r++) {
        const float *x = in + r * n;
        float *y = out + r * n;
        float top = x[0];
        for (int i = 1; i < n; i++)
            if (x[i] > top)
                top = x[i];
        float sum = 0.0f;
        for (int i = 0; i < n; i++) {
            y[i] = expf(x[i] - top);
            sum += y[i];
        }
        const float inv = 1.0f / sum;
        for (int i = 0; i < n; i++)
            y[i] *= inv;
    }
}

void k_affine(const float *in, int n, int c, const float *scale, const float *offset,
              float *out, int relu)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            out[i * c + ch] = activate(in[i * c + ch] * scale[ch] + offset[ch], relu);
}

void k_add(const float *a, const float *b, int n, float *out, int relu)
{
    for (int i = 0; i < n; i++)
        out[i] = activate(a[i] + b[i], relu);
}

void k_relu(const float *in, int n, float *out)
{
    for (int i = 0; i < n; i++)
        out[i] = activate(in[i], 1);
}
