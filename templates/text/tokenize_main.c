/* Tokenizer demo of an sdk bundle: WordPiece ids of texts with {{name}}_vocab (sdk_text.h). Usage:
 *   ./{{name}}_tokenize [--no-special] [--max-ids N] "some text" ...   (one line of ids per argument)
 *   ./{{name}}_tokenize [--no-special] [--max-ids N] -                  (stdin: records "<bytes>\n<text>")
 * The demo uses malloc for reading stdin; tokenization itself never does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sdk_text.h"

extern const sdk_wordpiece_vocab {{name}}_vocab;

static int print_ids(const char *text, size_t len, int special, int64_t *ids, size_t max_ids) {
  size_t n = 0;
  sdk_status st = sdk_wordpiece_encode(&{{name}}_vocab, text, len, special, ids, max_ids, &n);
  if (st != SDK_OK) {
    fprintf(stderr, "tokenize: %s\n", sdk_status_str(st));
    return 1;
  }
  for (size_t i = 0; i < n; ++i) printf(i ? " %lld" : "%lld", (long long)ids[i]);
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  int special = 1, a = 1;
  size_t max_ids = 4096;
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; ++a) {
    if (strcmp(argv[a], "--no-special") == 0) special = 0;
    else if (strcmp(argv[a], "--max-ids") == 0 && a + 1 < argc) max_ids = (size_t)strtoul(argv[++a], NULL, 10);
    else { fprintf(stderr, "tokenize: unknown option %s\n", argv[a]); return 2; }
  }
  int64_t *ids = (int64_t *)malloc((max_ids ? max_ids : 1) * sizeof(int64_t));
  if (!ids) return 1;
  int rc = 0;
  if (a < argc && strcmp(argv[a], "-") == 0) {
    unsigned long len;
    while (rc == 0 && scanf("%lu", &len) == 1 && getchar() == '\n') {
      char *text = (char *)malloc(len ? len : 1);
      if (!text || fread(text, 1, len, stdin) != len) { free(text); rc = 1; break; }
      rc = print_ids(text, len, special, ids, max_ids);
      free(text);
    }
  } else {
    for (; a < argc && rc == 0; ++a) rc = print_ids(argv[a], strlen(argv[a]), special, ids, max_ids);
  }
  free(ids);
  return rc;
}
