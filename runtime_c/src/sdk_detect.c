#include "sdk_detect.h"

static float corner(const float *b, int center, int k) {
  /* k: 0 y_min, 1 x_min, 2 y_max, 3 x_max */
  if (center) { /* x_c, y_c, w, h */
    const float c = k & 1 ? b[0] : b[1], half = 0.5f * (k & 1 ? b[2] : b[3]);
    return k < 2 ? c - half : c + half;
  }
  {
    const float a = b[k & 1], z = b[2 + (k & 1)];
    return k < 2 ? (a < z ? a : z) : (a < z ? z : a);
  }
}

static int suppresses(const float *a, const float *b, int center, float thr) {
  const float ay0 = corner(a, center, 0), ax0 = corner(a, center, 1), ay1 = corner(a, center, 2), ax1 = corner(a, center, 3);
  const float by0 = corner(b, center, 0), bx0 = corner(b, center, 1), by1 = corner(b, center, 2), bx1 = corner(b, center, 3);
  const float area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
  float ih, iw, inter;
  if (area_a <= 0.0f || area_b <= 0.0f) return 0;
  ih = (ay1 < by1 ? ay1 : by1) - (ay0 > by0 ? ay0 : by0);
  iw = (ax1 < bx1 ? ax1 : bx1) - (ax0 > bx0 ? ax0 : bx0);
  if (ih <= 0.0f || iw <= 0.0f) return 0;
  inter = ih * iw;
  return inter / (area_a + area_b - inter) > thr;
}

void sdk_nms_f32(const float *boxes, const float *scores, int64_t B, int64_t C, int64_t N, const int64_t *max_out,
                 const float *iou_thr, const float *score_thr, int64_t center_point_box, uint8_t *alive,
                 int64_t *selected, int64_t cap, int64_t *count) {
  const int64_t limit = max_out ? *max_out : 0;
  const float thr = iou_thr ? *iou_thr : 0.0f;
  const int center = center_point_box != 0;
  int64_t n_sel = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      const float *s = scores + (b * C + c) * N;
      int64_t taken = 0;
      for (int64_t i = 0; i < N; ++i) alive[i] = (uint8_t)(score_thr == 0 || s[i] > *score_thr);
      while (taken < limit && n_sel < cap) {
        int64_t best = -1;
        for (int64_t i = 0; i < N; ++i)
          if (alive[i] && (best < 0 || s[i] > s[best])) best = i;
        if (best < 0) break;
        alive[best] = 0;
        selected[3 * n_sel] = b;
        selected[3 * n_sel + 1] = c;
        selected[3 * n_sel + 2] = best;
        ++n_sel;
        ++taken;
        for (int64_t i = 0; i < N; ++i)
          if (alive[i] && suppresses(boxes + 4 * (b * N + best), boxes + 4 * (b * N + i), center, thr)) alive[i] = 0;
      }
    }
  }
  *count = n_sel;
}
