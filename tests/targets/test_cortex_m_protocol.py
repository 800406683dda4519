"""Robustness of the serial protocol against a firmware on the emulated Cortex-M4:
bad CRCs, garbage bytes, truncated frames, a device that does not answer."""
import socket
import struct
import threading
import time

import numpy as np
import pytest

import sdk
from conftest import ort_run, random_inputs
from sdk import serial_protocol as sp
from sdk.backends.mcu.runner import CortexMRunner
from test_cortex_m import require_toolchain

FRAME_TIMEOUT_S = 0.5  # the profile's frame_timeout_ms, in qemu's virtual time (runs ahead of wall time)


@pytest.fixture(scope="module")
def board(examples, tmp_path_factory):
    """(Device, model) talking to the mlp firmware in one qemu for the whole module."""
    require_toolchain()
    model, bounds = examples["mlp"]
    out = tmp_path_factory.mktemp("proto") / "mlp"
    sdk.compile(model, target="cortex-m4", dims=bounds, name="mlp").save(out)
    with CortexMRunner(timeout=20).connect(out) as dev:
        yield dev, model


def full_run(dev, model, seed):
    feeds = random_inputs(model, {"batch": 2}, seed=seed)
    dev.set_input(0, feeds["x"])
    dev.run()
    np.testing.assert_allclose(dev.get_output(0), ort_run(model, feeds)["logits"], rtol=1e-4, atol=1e-5)


def test_ping_reports_model_and_timer(board):
    dev, _ = board
    info = dev.ping()
    assert info["name"] == "mlp" and info["num_inputs"] == 1 and info["num_outputs"] == 1
    assert info["timer"] == "systick" and info["clock_hz"] == 25_000_000


def test_bad_crc_gets_error_reply_and_next_frame_works(board):
    dev, model = board
    frame = bytearray(sp.encode_frame(sp.PING, 77))
    frame[-1] ^= 0xFF
    dev.send_raw(bytes(frame))
    t, seq, body = dev.read_frame()
    assert (t, seq, body[0]) == (sp.ERROR, 77, 1) and b"CRC" in body
    assert dev.ping()["name"] == "mlp"
    full_run(dev, model, seed=10)


def test_random_garbage_then_valid_request(board):
    dev, model = board
    rng = np.random.default_rng(0)
    for trial in range(3):
        junk = rng.integers(0, 256, 500, dtype=np.uint8).tobytes()
        # make sure the junk also holds frame starts: one with a huge length, one truncated
        junk += b"\xa5\x5a\x01\x09" + struct.pack("<I", 0x7FFFFFFF) + junk[:50]
        junk += b"\xa5\x5a\x02\x09" + struct.pack("<I", 200) + junk[:20]
        dev.send_raw(junk)
        # The device answers the junk with error frames (whose seq numbers are random and could match the next
        # request's), and the last, truncated frame with a timeout error once the frame timeout has passed. Read
        # up to that timeout error instead of sleeping a fixed time: under load qemu may answer late.
        deadline = time.monotonic() + 60
        while True:
            t, _, body = dev.read_frame(timeout=max(0.1, deadline - time.monotonic()))
            if t == sp.ERROR and b"timeout" in body:
                break
        dev.drain(0.3)
        assert dev.ping()["name"] == "mlp"
        full_run(dev, model, seed=20 + trial)


def test_truncated_frame_gets_timeout_error(board):
    dev, _ = board
    dev.drain(0.1)
    dev.send_raw(sp.encode_frame(sp.PING, 91, b"payload")[:11])  # header and 3 payload bytes
    t, seq, body = dev.read_frame(timeout=10)
    assert (t, seq, body[0]) == (sp.ERROR, 91, 3) and b"timeout" in body
    assert dev.ping()["name"] == "mlp"


def test_error_replies_for_bad_requests(board):
    dev, model = board
    with pytest.raises(sp.DeviceError) as e:
        dev.request(0x42)
    assert e.value.code == 4
    with pytest.raises(sp.DeviceError) as e:  # input index out of range
        dev.set_input(3, np.zeros((1, 64), np.float32))
    assert e.value.code == 5
    with pytest.raises(sp.DeviceError) as e:  # dims say 4x64 floats, the data holds fewer
        dev.request(sp.SET_INPUT, struct.pack("<BBBBII", 0, 1, 2, 0, 4, 64) + bytes(100))
    assert e.value.code == 5
    with pytest.raises(sp.DeviceError) as e:  # larger than the input's buffer (batch bound 16)
        dev.set_input(0, np.zeros((17, 64), np.float32))
    assert e.value.code == 2
    dev.drain(FRAME_TIMEOUT_S * 1.5)
    dev.set_input(0, np.zeros((2, 64), np.int32))  # right size, wrong dtype: the model's own status
    with pytest.raises(sp.DeviceError) as e:
        dev.run()
    assert e.value.code == 6 and e.value.detail == 5 and "dtype" in e.value.message.lower()
    with pytest.raises(sp.DeviceError):  # no outputs after a failed run
        dev.get_output(0)
    full_run(dev, model, seed=30)


def test_new_input_invalidates_outputs(board):
    """Issue 16: GET_OUTPUT after a SET_INPUT without a RUN is an error, not the previous outputs."""
    dev, model = board
    full_run(dev, model, seed=40)
    dev.set_input(0, np.ones((2, 64), np.float32))
    with pytest.raises(sp.DeviceError) as e:
        dev.get_output(0)
    assert e.value.code == 5 and "SET_INPUT" in e.value.message
    full_run(dev, model, seed=41)


def test_silent_device_times_out_clearly():
    """A port where nothing answers (a listening socket that never replies)."""
    import serial
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    th = threading.Thread(target=lambda: conns.append(srv.accept()[0]), daemon=True)
    th.start()
    port = serial.serial_for_url(f"socket://127.0.0.1:{srv.getsockname()[1]}", timeout=0.1)
    try:
        dev = sp.Device(port, timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(sp.DeviceTimeout, match=r"no reply from the device within 0.5 s"):
            dev.ping()
        assert time.monotonic() - t0 < 3
    finally:
        port.close()
        th.join(1)
        for c in conns:
            c.close()
        srv.close()


def test_host_rejects_corrupt_reply():
    """The host checks the device's CRC too."""
    class Loop:
        def __init__(self, data):
            self.data, self.timeout = bytearray(data), 0.1

        def read(self, n):
            out, self.data = bytes(self.data[:n]), self.data[n:]
            return out

    good = sp.encode_frame(sp.PING | sp.REPLY, 1, b"x" * 30)
    bad = bytearray(good)
    bad[12] ^= 1
    assert sp.Device(Loop(b"noise" + good), timeout=1).read_frame()[2] == b"x" * 30
    with pytest.raises(sp.ProtocolError, match="bad CRC"):
        sp.Device(Loop(bad), timeout=1).read_frame()


def test_run_repeat_is_bounded(board):
    """Found by libFuzzer on the host-built firmware: RUN with repeat 2^32-1 kept the device busy for hours."""
    dev, model = board
    with pytest.raises(sp.DeviceError) as e:
        dev.request(sp.RUN, struct.pack("<I", 0xFFFFFFFF))
    assert e.value.code == 5 and "repeat" in e.value.message
    with pytest.raises(sp.ProtocolError, match="repeat"):
        dev.run(5000)
    full_run(dev, model, seed=50)
