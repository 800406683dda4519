"""Host side of the framed serial protocol that MCU firmware speaks
(device side: ``templates/mcu/proto.c``). Works over any pyserial port:
``serial_for_url("socket://127.0.0.1:PORT")`` for qemu, ``/dev/ttyACM0`` for a board.

    frame := 0xA5 0x5A | type u8 | seq u8 | length u32 | payload | crc32 u32

Little-endian; crc32 is ``zlib.crc32`` over type, seq, length and payload. A
reply echoes the request's seq with type ``request | 0x80``, or is an ERROR
frame (code u8, request type u8, detail u16, ASCII message). GENERATE (firmware of a bundle built with
--generate) runs the whole token loop on the device: the context inputs go first with SET_INPUT."""
from __future__ import annotations

import struct
import time
import zlib

import numpy as np

from .errors import SdkError
from .ir.dtypes import CODE_DTYPE, DTYPE_CODE, dtype_name, np_dtype

MAGIC = b"\xa5\x5a"
PING, SET_INPUT, RUN, GET_OUTPUT, GENERATE, REPLY, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x80, 0xEE
TRAIN, GET_STATE = 0x06, 0x07  # firmware of a bundle built with --train
GENERATE_TEXT = 0x08  # firmware of a bundle built with --generate, a vocab and an encoder
MAX_STOP_TOKENS = 64  # templates/mcu/main.c (GENERATE)
ERROR_CODES = {1: "bad CRC", 2: "frame too long", 3: "timeout inside a frame", 4: "unknown message type",
               5: "bad payload", 6: "model error", 7: "CPU fault"}
TIMERS = {0: "none", 1: "dwt", 2: "systick"}


class ProtocolError(SdkError):
    """The serial line carried something that is not a valid reply."""


class DeviceTimeout(ProtocolError):
    """The device did not answer in time."""


class DeviceError(ProtocolError):
    """The device answered with an ERROR frame."""

    def __init__(self, code, req_type, detail, message):
        self.code, self.req_type, self.detail, self.message = code, req_type, detail, message
        super().__init__(f"device error {code} ({ERROR_CODES.get(code, '?')}) on request type {req_type:#04x}: "
                         f"{message}" + (f" [status {detail}]" if detail else ""))


MAX_REPEAT = 1000  # templates/mcu/main.c


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    body = struct.pack("<BBI", msg_type, seq, len(payload)) + payload
    return MAGIC + body + struct.pack("<I", zlib.crc32(body))


class Device:
    """Requests to a firmware over an open pyserial port."""

    def __init__(self, port, timeout: float = 10.0):
        self.port, self.timeout, self.seq = port, timeout, 0

    # ---------------------------------------------------------------- framing
    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeout(f"no reply from the device within {self.timeout:g} s (waiting for {what}; "
                                    f"got {len(buf)} of {n} bytes)")
            self.port.timeout = min(left, 0.5)
            buf += self.port.read(n - len(buf))
        return bytes(buf)

    def read_frame(self, timeout: float = None):
        """Next frame from the device: (type, seq, payload)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        c = self._read_exact(1, deadline, "a frame")
        while True:
            while c != b"\xa5":
                c = self._read_exact(1, deadline, "a frame")
            c = self._read_exact(1, deadline, "a frame")
            if c == b"\x5a":
                break
        head = self._read_exact(6, deadline, "a frame header")
        msg_type, seq, length = struct.unpack("<BBI", head)
        if length > 64 * 1024 * 1024:
            raise ProtocolError(f"reply length {length} is implausible: the line is corrupt")
        payload = self._read_exact(length, deadline, "a payload")
        (crc,) = struct.unpack("<I", self._read_exact(4, deadline, "a checksum"))
        if zlib.crc32(head + payload) != crc:
            raise ProtocolError("reply with a bad CRC: the serial line is corrupt")
        return msg_type, seq, payload

    def send_raw(self, data: bytes):
        self.port.write(data)
        self.port.flush()

    def request(self, msg_type: int, payload: bytes = b"", timeout: float = None) -> bytes:
        """Send one request and return the payload of its reply; raises DeviceError for an ERROR reply."""
        self.seq = self.seq % 255 + 1
        self.send_raw(encode_frame(msg_type, self.seq, payload))
        while True:
            t, seq, body = self.read_frame(timeout)
            if seq != self.seq:
                continue  # a late reply to something earlier (e.g. error replies to line noise)
            if t == ERROR:
                code, req, detail = struct.unpack("<BBH", body[:4])
                raise DeviceError(code, req, detail, body[4:].decode("ascii", "replace"))
            if t != (msg_type | REPLY):
                raise ProtocolError(f"reply type {t:#04x} to request type {msg_type:#04x}")
            return body

    def drain(self, quiet: float = 0.2):
        """Discard whatever the device sends until the line is quiet for ``quiet`` seconds."""
        self.port.timeout = quiet
        while self.port.read(4096):
            pass

    # --------------------------------------------------------------- messages
    def ping(self, timeout: float = None) -> dict:
        body = self.request(PING, timeout=timeout)
        ver, n_in, n_out, arena, rx, timer, hz = struct.unpack("<7I", body[:28])
        return {"version": ver, "num_inputs": n_in, "num_outputs": n_out, "arena_bytes": arena,
                "rx_bytes": rx, "timer": TIMERS.get(timer, str(timer)), "clock_hz": hz,
                "name": body[28:].decode("ascii", "replace")}

    def set_input(self, index: int, arr: np.ndarray):
        arr = np.ascontiguousarray(arr)
        dt = dtype_name(arr.dtype)
        if dt not in DTYPE_CODE:
            raise ProtocolError(f"input {index}: dtype {dt} cannot be sent")
        head = struct.pack("<BBBB", index, DTYPE_CODE[dt], arr.ndim, 0) + struct.pack(f"<{arr.ndim}I", *arr.shape)
        bits = arr.view(np.uint16) if dt in ("float16", "bfloat16") else arr  # half types: their 16-bit patterns
        self.request(SET_INPUT, head + bits.astype(bits.dtype.newbyteorder("<")).tobytes())

    def run(self, repeat: int = 1, timeout: float = None) -> dict:
        if not 1 <= repeat <= MAX_REPEAT:
            raise ProtocolError(f"repeat {repeat}: the firmware runs 1..{MAX_REPEAT} times per RUN")
        body = self.request(RUN, struct.pack("<I", repeat), timeout=timeout)
        timer, rep, ws, _ = struct.unpack("<4I", body[:16])
        best, total = struct.unpack("<QQ", body[16:32])
        return {"timer": TIMERS.get(timer, str(timer)), "repeat": rep, "workspace_bytes": ws,
                "cycles": best, "cycles_total": total}

    def get_output(self, index: int) -> np.ndarray:
        body = self.request(GET_OUTPUT, struct.pack("<B", index))
        (word,) = struct.unpack("<I", body[:4])
        code, rank = word & 0xFFFF, word >> 16
        dims = struct.unpack(f"<{rank}I", body[4:4 + 4 * rank])
        want = np_dtype(CODE_DTYPE[code])
        half = CODE_DTYPE[code] in ("float16", "bfloat16")
        dt = np.dtype("<u2") if half else want.newbyteorder("<")
        arr = np.frombuffer(body[4 + 4 * rank:], dtype=dt).reshape(dims).astype(dt.newbyteorder("="))
        return arr.view(want) if half else arr

    def train(self, lr: float, reset: bool = False, timeout: float = None) -> dict:
        """One ``<name>_train_step`` on the device (a bundle built with --train) on the batch and labels sent with
        set_input; ``reset``: re-initialise the training state first. Returns loss, cycles, state/arena bytes, steps."""
        body = self.request(TRAIN, struct.pack("<fI", lr, int(reset)), timeout=timeout)
        loss, state, arena, steps = struct.unpack("<fIII", body[:16])
        (cycles,) = struct.unpack("<Q", body[16:24])
        return {"loss": loss, "state_bytes": state, "arena_bytes": arena, "steps": steps, "cycles": cycles}

    def get_state(self, offset: int, length: int) -> bytes:
        """Bytes of the device's training state (the trained parameters, at the offsets bundle.json lists)."""
        return self.request(GET_STATE, struct.pack("<II", offset, length))

    def generate_text(self, text: str, max_len: int, params, timeout: float = None):
        """The device's ``<name>_generate_text`` (GENERATE_TEXT): text in, text out (the tokenizer, the encoder and
        the generation loop on the device). Returns (the generated text, info dict: workspace_bytes, cycles)."""
        data = text.encode("utf-8")
        head = struct.pack("<IiififIIifI", max_len, params.max_new_tokens, int(params.do_sample), params.temperature,
                           params.top_k, params.top_p, params.seed & 0xFFFFFFFF, params.seed >> 32,
                           params.num_beams, params.length_penalty, len(data))
        body = self.request(GENERATE_TEXT, head + data, timeout=timeout)
        ws, n = struct.unpack("<II", body[:8])
        (total,) = struct.unpack("<Q", body[8:16])
        return body[16:16 + n].decode("utf-8"), {"workspace_bytes": ws, "cycles": total}

    def generate(self, prompt: np.ndarray, max_len: int, params, timeout: float = None):
        """The device's ``<name>_generate`` (GENERATE): prompt int64 [batch, prompt_len], ``params`` a
        sdk.generate.GenerateParams; the context inputs must have been sent with set_input. Returns (token rows
        cut to their lengths, info dict: workspace_bytes, new_tokens, first_token_cycles, cycles)."""
        prompt = np.ascontiguousarray(prompt, dtype="<i8")
        stops = [int(t) for t in params.stop_tokens]
        if len(stops) > MAX_STOP_TOKENS:
            raise ProtocolError(f"{len(stops)} stop tokens: the firmware takes at most {MAX_STOP_TOKENS}")
        batch, plen = prompt.shape
        head = struct.pack("<3IiififIIif", batch, plen, max_len, params.max_new_tokens, int(params.do_sample),
                           params.temperature, params.top_k, params.top_p, params.seed & 0xFFFFFFFF,
                           params.seed >> 32, params.num_beams, params.length_penalty)
        head += struct.pack("<II", len(stops), 0)
        body = self.request(GENERATE, head + np.array(stops, "<i8").tobytes() + prompt.tobytes(), timeout=timeout)
        rows, mlen, ws, new = struct.unpack("<4I", body[:16])
        first, total = struct.unpack("<QQ", body[16:32])
        lengths = np.frombuffer(body[32:32 + 8 * rows], "<i8")
        tokens = np.frombuffer(body[32 + 8 * rows:32 + 8 * rows + 8 * rows * mlen], "<i8").reshape(rows, mlen)
        return ([list(map(int, t[:n])) for t, n in zip(tokens, lengths)],
                {"workspace_bytes": ws, "new_tokens": new, "first_token_cycles": first, "cycles": total})
