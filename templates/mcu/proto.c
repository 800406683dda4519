#include "proto.h"
#include <string.h>
#include "fw.h"

/* zlib CRC-32 with a 16-entry table: 64 bytes of flash instead of 1 KB */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t proto_crc32(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
  }
  return ~crc;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int read_n(uint8_t *p, uint32_t n, uint32_t timeout_ms) {
  for (uint32_t i = 0; i < n; ++i)
    if (!uart_read_byte(&p[i], timeout_ms)) return 0;
  return 1;
}

int proto_recv(proto_frame *f, uint8_t *buf, uint32_t cap, uint32_t timeout_ms) {
  uint8_t c = 0, hdr[6], tail[4];
  f->type = 0;
  f->seq = 0;
  f->len = 0;
  /* hunt for the magic: any garbage before it is skipped */
  for (;;) {
    uart_read_byte(&c, 0xFFFFFFFFu);
    while (c == 0xA5) {
      if (!uart_read_byte(&c, timeout_ms)) return PROTO_E_TIMEOUT;
      if (c == 0x5A) goto header;
    }
  }
header:
  if (!read_n(hdr, 6, timeout_ms)) return PROTO_E_TIMEOUT;
  f->type = hdr[0];
  f->seq = hdr[1];
  f->len = rd32(hdr + 2);
  if (f->len > cap) return PROTO_E_TOO_LONG; /* the rest is skipped as garbage while hunting */
  if (!read_n(buf, f->len, timeout_ms) || !read_n(tail, 4, timeout_ms)) return PROTO_E_TIMEOUT;
  if (proto_crc32(proto_crc32(0, hdr, 6), buf, f->len) != rd32(tail)) return PROTO_E_CRC;
  return 0;
}

static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

void proto_send(uint8_t type, uint8_t seq, const void *const *parts, const uint32_t *lens, int n) {
  uint8_t hdr[8], tail[4];
  uint32_t len = 0, crc;
  for (int i = 0; i < n; ++i) len += lens[i];
  hdr[0] = 0xA5;
  hdr[1] = 0x5A;
  hdr[2] = type;
  hdr[3] = seq;
  wr32(hdr + 4, len);
  crc = proto_crc32(0, hdr + 2, 6);
  uart_write(hdr, 8);
  for (int i = 0; i < n; ++i) {
    crc = proto_crc32(crc, (const uint8_t *)parts[i], lens[i]);
    uart_write((const uint8_t *)parts[i], lens[i]);
  }
  wr32(tail, crc);
  uart_write(tail, 4);
}

void proto_send_error(uint8_t seq, uint8_t req_type, uint8_t code, uint16_t detail, const char *msg) {
  uint8_t head[4] = {code, req_type, (uint8_t)detail, (uint8_t)(detail >> 8)};
  const void *parts[2] = {head, msg};
  uint32_t lens[2] = {4, (uint32_t)strlen(msg)};
  proto_send(PROTO_ERROR, seq, parts, lens, 2);
}
