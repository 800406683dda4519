/* Demo for an exported vq index: k nearest neighbours of query vectors.
 *
 *   ./vq_demo QUERIES.f32 [-k K] [--tree NPROBE BUDGET] [--index FILE.svq] [-o OUT.txt]
 *
 * QUERIES.f32: raw little-endian float32, dim values per query (dim is the index's).
 * Output: one line per query, "id:distance" pairs separated by spaces (stdout or -o).
 * Without --index the index compiled into vq_index_data.c is used. Exit status 0 on success;
 * otherwise the runtime's status is printed and the exit status is 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdk_vq.h"
#include "vq_index_data.h"

static void *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  void *buf = NULL;
  long len;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    buf = malloc((size_t)len + 8u); /* malloc'd memory is aligned for any type (>= 8 bytes) */
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
      free(buf);
      buf = NULL;
    }
    *size = (size_t)len;
  }
  fclose(f);
  return buf;
}

static int fail(const char *what, sdk_status st) {
  fprintf(stderr, "vq_demo: %s: %s (status %d)\n", what, sdk_status_str(st), (int)st);
  return 1;
}

int main(int argc, char **argv) {
  const char *qpath = NULL, *ipath = NULL, *opath = NULL;
  const void *blob = vq_index_blob;
  size_t blob_size = vq_index_blob_size, qsize = 0, scratch_size = 0;
  sdk_vq_params p = {10, 0, 0, 0, 0.0f};
  sdk_vq_index idx;
  sdk_status st;
  float *queries, *dist;
  uint32_t *ids, nq, q, i;
  void *scratch, *file_blob = NULL;
  FILE *out = stdout;
  int a;
  for (a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "-k") && a + 1 < argc) p.k = (uint32_t)strtoul(argv[++a], NULL, 10);
    else if (!strcmp(argv[a], "--tree") && a + 2 < argc) {
      p.use_tree = 1;
      p.nprobe = (uint32_t)strtoul(argv[++a], NULL, 10);
      p.budget = (uint32_t)strtoul(argv[++a], NULL, 10);
    } else if (!strcmp(argv[a], "--margin") && a + 1 < argc) p.margin = strtof(argv[++a], NULL);
    else if (!strcmp(argv[a], "--index") && a + 1 < argc) ipath = argv[++a];
    else if (!strcmp(argv[a], "-o") && a + 1 < argc) opath = argv[++a];
    else if (!qpath && argv[a][0] != '-') qpath = argv[a];
    else {
      fprintf(stderr, "usage: %s QUERIES.f32 [-k K] [--tree NPROBE BUDGET] [--margin M] [--index FILE] [-o OUT]\n", argv[0]);
      return 2;
    }
  }
  if (!qpath) return fail("no query file given", SDK_ERR_BAD_ARG);
  if (ipath) {
    file_blob = read_file(ipath, &blob_size);
    if (!file_blob) return fail(ipath, SDK_ERR_IO);
    blob = file_blob;
  }
  st = sdk_vq_open(&idx, blob, blob_size);
  if (st != SDK_OK) return fail("opening index", st);
  queries = (float *)read_file(qpath, &qsize);
  if (!queries) return fail(qpath, SDK_ERR_IO);
  if (qsize % (4u * idx.dim) != 0u) return fail("query file size is not a multiple of dim floats", SDK_ERR_SHAPE_MISMATCH);
  nq = (uint32_t)(qsize / (4u * idx.dim));
  st = sdk_vq_batch_scratch_size(&idx, &p, 32u, &scratch_size); /* lookup tables of 32 queries at a time */
  if (st != SDK_OK) return fail("scratch size", st);
  scratch = malloc(scratch_size ? scratch_size : 1u);
  dist = (float *)malloc((size_t)nq * p.k * sizeof(float) + 1u);
  ids = (uint32_t *)malloc((size_t)nq * p.k * sizeof(uint32_t) + 1u);
  if (!scratch || !dist || !ids) return fail("out of memory", SDK_ERR_IO);
  st = sdk_vq_search_batch(&idx, queries, nq, &p, scratch, scratch_size, dist, ids);
  if (st != SDK_OK) return fail("search", st);
  if (opath && !(out = fopen(opath, "w"))) return fail(opath, SDK_ERR_IO);
  for (q = 0; q < nq; q++) {
    for (i = 0; i < p.k; i++) {
      uint32_t id = ids[(size_t)q * p.k + i];
      if (id == 0xFFFFFFFFu) fprintf(out, "%s-1:inf", i ? " " : "");
      else fprintf(out, "%s%u:%.9g", i ? " " : "", (unsigned)id, (double)dist[(size_t)q * p.k + i]);
    }
    fputc('\n', out);
  }
  if (out != stdout) fclose(out);
  free(scratch), free(dist), free(ids), free(queries), free(file_blob);
  return 0;
}
