/* Framed serial protocol, device side. The host side is sdk/serial_protocol.py.
 *
 * frame := 0xA5 0x5A | type u8 | seq u8 | length u32 | payload[length] | crc32 u32
 * Little-endian; crc32 is zlib's CRC-32 over type, seq, length and payload.
 * A reply has type (request | 0x80), or PROTO_ERROR with an error payload:
 * code u8 | request type u8 | detail u16 | message (ASCII, no terminator). */
#ifndef PROTO_H
#define PROTO_H
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1u
#define PROTO_PING 0x01
#define PROTO_SET_INPUT 0x02
#define PROTO_RUN 0x03
#define PROTO_GET_OUTPUT 0x04
#define PROTO_GENERATE 0x05 /* firmware of a bundle built with --generate: the whole token loop on the device */
#define PROTO_TRAIN 0x06     /* firmware of a bundle built with --train: one training step on the device's state */
#define PROTO_GET_STATE 0x07 /* ... and bytes of its training state (the trained parameters) */
#define PROTO_GENERATE_TEXT 0x08 /* --generate with vocab and encoder: text in, text out (<name>_generate_text) */
#define PROTO_REPLY 0x80
#define PROTO_ERROR 0xEE

/* error codes */
#define PROTO_E_CRC 1         /* checksum mismatch: frame dropped */
#define PROTO_E_TOO_LONG 2    /* length above the device's receive buffer: frame dropped */
#define PROTO_E_TIMEOUT 3     /* frame stopped arriving mid-way: dropped */
#define PROTO_E_UNKNOWN 4     /* unknown message type */
#define PROTO_E_BAD_PAYLOAD 5 /* payload does not fit the message (index, dims, sizes) */
#define PROTO_E_MODEL 6       /* the model returned a status (detail = sdk_status) */
#define PROTO_E_FAULT 7       /* CPU fault: the device stopped */

typedef struct {
  uint8_t type, seq;
  uint32_t len;
} proto_frame;

uint32_t proto_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Receive one frame into buf (capacity cap). Waits for the start of a frame
 * forever, then at most timeout_ms per byte. Returns 0 or a PROTO_E_* code
 * (the frame is dropped; f->type/seq are set when its header arrived). */
int proto_recv(proto_frame *f, uint8_t *buf, uint32_t cap, uint32_t timeout_ms);

/* Send a frame whose payload is the concatenation of n parts. */
void proto_send(uint8_t type, uint8_t seq, const void *const *parts, const uint32_t *lens, int n);

void proto_send_error(uint8_t seq, uint8_t req_type, uint8_t code, uint16_t detail, const char *msg);
#endif
