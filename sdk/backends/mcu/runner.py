"""Build an MCU bundle's firmware and run it: on the emulated board (qemu-system-arm with
its UART on a local TCP socket) or on a real board at ``port``; both through pyserial
and the same protocol code (``sdk.serial_protocol``)."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ...errors import BuildError, SdkError
from ...serial_protocol import Device, DeviceTimeout
from ...targets import load_target
from .bundle import build_firmware


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuBoard:
    """qemu-system-arm running a firmware; its UART0 is a TCP server that waits for us."""

    def __init__(self, elf: Path, board: dict, start_timeout: float = 20.0):
        self.elf, self.board, self.start_timeout = Path(elf), board, start_timeout
        self.proc, self.port, self.log = None, None, None

    def __enter__(self):
        qemu = self.board.get("qemu", "qemu-system-arm")
        if shutil.which(qemu) is None:
            raise BuildError(f"{qemu} not found: install it (apt-get install qemu-system-arm) or pass --port")
        import serial
        self.log = tempfile.NamedTemporaryFile(prefix="sdk_qemu_", suffix=".log", delete=False)
        for _attempt in range(3):  # the free port may be taken between probe and bind
            tcp = _free_port()
            cmd = [qemu, "-M", self.board["machine"], "-nographic", "-monitor", "none", "-kernel", str(self.elf),
                   "-serial", f"tcp:127.0.0.1:{tcp},server=on,wait=on"] + list(self.board.get("qemu_args", []))
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    self.port = serial.serial_for_url(f"socket://127.0.0.1:{tcp}", timeout=0.5)
                    return self
                except Exception:  # noqa: BLE001 - not listening yet
                    time.sleep(0.05)
            self._stop()
        raise BuildError(f"qemu did not start ({' '.join(cmd)}): {self._log_tail()}")

    def _log_tail(self):
        try:
            return Path(self.log.name).read_text(errors="replace").strip()[-500:] or "no output"
        except OSError:
            return "no log"

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        if self.port is not None:
            self.port.close()
        self._stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class CortexMRunner:
    """``port``: a real board's serial device (flashed beforehand); None runs qemu."""

    def __init__(self, port: str = None, baud: int = None, timeout: float = 60.0):
        self.port, self.baud, self.timeout = port, baud, timeout

    def build(self, out: Path) -> Path:
        build_firmware(Path(out))
        return Path(out) / "firmware.elf"

    @contextlib.contextmanager
    def connect(self, out: Path):
        """A protocol Device talking to the bundle's firmware (started in qemu unless ``port``)."""
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        board = load_target(meta["target"]).data["board"]
        if self.port:
            import serial
            try:
                port = serial.serial_for_url(self.port, baudrate=self.baud or board.get("baud", 115200), timeout=0.5)
            except Exception as e:  # noqa: BLE001
                raise SdkError(f"cannot open serial port {self.port}: {e}") from None
            with contextlib.closing(port):
                yield Device(port, self.timeout)
            return
        elf = out / "firmware.elf"
        if not elf.exists():
            self.build(out)
        with QemuBoard(elf, board) as q:
            yield Device(q.port, self.timeout)

    def generate(self, out: Path, prompt, max_len: int, params, context=()):
        """``<name>_generate`` on the device (a bundle built with --generate): the context arrays (in the order of
        ``meta["generate"]["context"]``) go first with SET_INPUT, then GENERATE; returns (token rows, info with
        workspace_bytes, new_tokens, cycles, first_token_cycles, clock_hz and the firmware's flash/RAM)."""
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        if "generate" not in meta:
            raise SdkError(f"{out}: not compiled for generation (sdk build --generate --dim max_len=N)")
        if not (out / "firmware.elf").exists():
            self.build(out)
        with self.connect(out) as dev:
            info = dev.ping(timeout=self.timeout)
            if info["name"] != meta["name"]:
                raise SdkError(f"the device runs model '{info['name']}', the bundle is '{meta['name']}'")
            for k, arr in zip(meta["generate"]["context_index"], context or ()):
                dev.set_input(k, arr)
            rows, res = dev.generate(prompt, max_len, params)
        return rows, {**res, "clock_hz": info["clock_hz"], **self._firmware_size(out)}

    def generate_text(self, out: Path, texts, max_len: int, params):
        """``<name>_generate_text`` on the device (a bundle built with --generate, a vocab and an encoder): one
        GENERATE_TEXT per text; returns (the generated texts, info with workspace_bytes, cycles (per text), clock_hz,
        total_ms (the cycles at that clock) and the firmware's flash/RAM)."""
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        limit = meta.get("generate", {}).get("text", {}).get("max_text_bytes")
        if limit is None:
            raise SdkError(f"{out}: no text path (compile with generate=True, vocab= and encoder=)")
        too_long = [t for t in texts if len(t.encode("utf-8")) > limit]
        if too_long:
            raise SdkError(f"a text of {len(too_long[0].encode('utf-8'))} bytes: the firmware takes at most {limit}")
        if not (out / "firmware.elf").exists():
            self.build(out)
        got, cycles = [], []
        with self.connect(out) as dev:
            info = dev.ping(timeout=self.timeout)
            if info["name"] != meta["name"]:
                raise SdkError(f"the device runs model '{info['name']}', the bundle is '{meta['name']}'")
            for t in texts:
                text, res = dev.generate_text(t, max_len, params)
                got.append(text)
                cycles.append(res["cycles"])
        return got, {"workspace_bytes": res["workspace_bytes"], "cycles": cycles, "clock_hz": info["clock_hz"],
                     "total_ms": 1e3 * sum(cycles) / info["clock_hz"], **self._firmware_size(out)}

    def train(self, out: Path, batches, labels, lr: float, steps: int):
        """``steps`` training steps on the device (a bundle built with --train): step s sends batch s % B
        (``batches``: one array per model input, each [B, ...batch shape]) and its labels, then TRAIN. Returns
        (losses, {parameter name: trained array}, info: cycles per step, state/arena bytes, firmware flash/RAM)."""
        import numpy as np
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        if "train" not in meta:
            raise SdkError(f"{out}: not compiled for training (sdk build --train)")
        if not (out / "firmware.elf").exists():
            self.build(out)
        n_in = meta["train"]["num_inputs"]
        losses, cycles = [], []
        with self.connect(out) as dev:
            info = dev.ping(timeout=self.timeout)
            if info["name"] != meta["name"]:
                raise SdkError(f"the device runs model '{info['name']}', the bundle is '{meta['name']}'")
            nb = len(labels)
            for s in range(steps):
                for k in range(n_in):
                    dev.set_input(k, batches[k][s % nb])
                dev.set_input(n_in, labels[s % nb])
                r = dev.train(lr, reset=s == 0, timeout=self.timeout)
                losses.append(r["loss"])
                cycles.append(r["cycles"])
            params = {}
            for p in meta["train"]["params"]:
                n = int(np.prod(p["shape"])) * 4
                params[p["name"]] = np.frombuffer(dev.get_state(p["offset"], n), "<f4").reshape(p["shape"]).copy()
        return losses, params, {"cycles": cycles, "state_bytes": r["state_bytes"], "arena_bytes": r["arena_bytes"],
                                "clock_hz": info["clock_hz"], **self._firmware_size(out)}

    @staticmethod
    def _firmware_size(out: Path) -> dict:
        rep = Path(out) / "build_report.json"
        if not rep.exists():
            return {}
        r = json.loads(rep.read_text())
        return {"flash_bytes": r["flash_bytes"], "ram_bytes": r["ram_bytes"]}

    def run(self, out: Path, inputs: dict, arena=None, repeat=1, rebuild=False):
        """Run the bundle on the device; returns ({output name: array}, info dict)."""
        out = Path(out)
        meta = json.loads((out / "bundle.json").read_text())
        if meta.get("kind") != "mcu":
            raise SdkError(f"{out}: not an MCU bundle (build it with --target {meta['target']} for an MCU target)")
        if arena is not None:
            raise SdkError("the firmware's arena is static (planned at the bounds); --arena does not apply")
        missing = [n for n in meta["inputs"] if n not in inputs]
        if missing:
            raise SdkError(f"missing input '{missing[0]}' (the model's inputs: {', '.join(meta['inputs'])})")
        if "input_types" in meta:  # dims above the bounds would not fit the device's receive buffer
            from ...feeds import check_feeds
            check_feeds(meta["inputs"], [(t["dtype"], t["shape"]) for t in meta["input_types"]], inputs,
                        meta.get("bounds", {}))
        if rebuild or not (out / "firmware.elf").exists():
            self.build(out)
        with self.connect(out) as dev:
            try:
                info = dev.ping(timeout=self.timeout)
            except DeviceTimeout as e:
                raise DeviceTimeout(f"the firmware does not answer PING: {e}") from None
            if info["name"] != meta["name"]:
                raise SdkError(f"the device runs model '{info['name']}', the bundle is '{meta['name']}'")
            for k, n in enumerate(meta["inputs"]):
                dev.set_input(k, inputs[n])
            res = dev.run(repeat)
            outs = {n: dev.get_output(k) for k, n in enumerate(meta["outputs"])}
        return outs, {**res, "clock_hz": info["clock_hz"], **self._firmware_size(out)}
