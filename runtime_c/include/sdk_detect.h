/* Detection post-processing kernels (library calls of generated code). C99, no malloc, no globals. */
#ifndef SDK_DETECT_H
#define SDK_DETECT_H

#include <stdint.h>

/* ONNX NonMaxSuppression, greedy per (batch, class): repeatedly select the highest-scoring box above
 * score_thr (ties: lowest index) and drop the boxes whose IoU with it exceeds iou_thr, at most max_out per
 * class. boxes [B, N, 4] (y1, x1, y2, x2 corners, or x_c, y_c, w, h with center_point_box), scores [B, C, N].
 * Writes rows (batch, class, box) to selected[cap, 3] in batch, class, score order and their number to
 * *count; stops at cap rows. max_out/iou_thr/score_thr may be NULL (0 boxes, 0.0, no threshold).
 * alive: N bytes of scratch. */
void sdk_nms_f32(const float *boxes, const float *scores, int64_t B, int64_t C, int64_t N, const int64_t *max_out,
                 const float *iou_thr, const float *score_thr, int64_t center_point_box, uint8_t *alive,
                 int64_t *selected, int64_t cap, int64_t *count);

#endif
