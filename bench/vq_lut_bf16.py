"""Lever 2 of issue 20, measured before building it: the lookup table in bf16 (AVX-512 BF16 `vdpbf16ps`).

For each set: (1) recall@10 of exhaustive ADC on the held-out (leave-one-out) rows and the test queries with the
table from bf16-rounded queries and codebooks (float64 sums of the exact products: what a bf16 table gives up to its
float additions) and, as extra information, from int8 ones (per query / per stage symmetric scales: a VNNI table),
against the float table; (2) the time of the table: bench/vq_lut_bf16_probe.c, built with the host profile's flags
with the C runtime, times the runtime's float table (sdk_vq_search_batch over a one-item index, 32 queries a
group) and a bf16 kernel alternately on the test queries, and checks a portable emulation gives the kernel's bits.

  python3 bench/vq_lut_bf16.py minilm-passages-cpu,minilm-tokens-all,sift-like 1000
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]
import numpy as np  # noqa: E402

import vq_bench as vb  # noqa: E402
import vq_tree_bench as tb  # noqa: E402
from sdk.resources import RUNTIME  # noqa: E402
from sdk.vq import Index  # noqa: E402


def bf16(a):
    a = np.array(a, np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)


def int8(a, axis):
    s = np.abs(a).max(axis=axis, keepdims=True) / 127.0
    return np.round(a / np.where(s > 0, s, 1)).clip(-127, 127) * s


def recalls(q, codes, queries, nn, self_ids, held):
    books = q.codebooks.astype(np.float32)
    rec = q.decode(codes).astype(np.float32)
    norms = np.einsum("ij,ij->i", rec, rec).astype(np.float32).astype(np.float64)
    out, tops = {}, {}
    for kind in ("float", "bf16", "int8"):
        hits, top = [], []
        for s in range(0, len(queries), 100):
            qb = queries[s:s + 100].astype(np.float32)
            if kind == "float":
                qq, bb = qb.astype(np.float64), books.astype(np.float64)
            elif kind == "bf16":
                qq, bb = bf16(qb).astype(np.float64), bf16(books).astype(np.float64)
            else:
                qq, bb = int8(qb.astype(np.float64), 1), int8(books.astype(np.float64), (1, 2))
            lut = np.einsum("qd,mkd->qmk", qq, bb)
            acc = np.zeros((len(qb), len(codes)))
            for m in range(q.stages):
                acc += lut[:, m, :][:, codes[:, m]]
            d = norms[None] - 2 * acc
            sid = self_ids[s:s + 100]
            d[np.flatnonzero(sid >= 0), sid[sid >= 0]] = np.inf
            t = np.argsort(d, 1, kind="stable")[:, :10]
            hits += list((t == nn[s:s + 100, None]).any(1))
            top.append(t)
        h = np.array(hits)
        out[kind] = (h[:held].mean(), h[held:].mean())
        tops[kind] = np.concatenate(top)
    changed = {k: float(np.mean([set(a) != set(b) for a, b in zip(tops[k], tops["float"])])) for k in tops}
    return out, changed


def probe(q, codes, xq, opt, tmp):
    one = Index(q)
    one.add_codes(codes[:1])
    blob = os.path.join(tmp, "one.svq")
    with open(blob, "wb") as f:
        f.write(one.to_bytes())
    qf = os.path.join(tmp, "q.f32")
    nq = len(xq) // 32 * 32
    xq[:nq].astype("<f4").tofile(qf)
    exe = os.path.join(tmp, "probe")
    subprocess.run(["gcc", "-std=c99", *opt.split(), "-Wall", "-Wextra", f"-I{RUNTIME / 'include'}", "-o", exe,
                    os.path.join(HERE, "vq_lut_bf16_probe.c"), str(RUNTIME / "src/sdk_vq.c"),
                    str(RUNTIME / "src/sdk_status.c")], check=True)
    out = subprocess.run([exe, blob, qf, str(nq), "15"], check=True, capture_output=True, text=True).stdout.split()
    return {out[i]: out[i + 1] for i in range(0, len(out), 2)}


def main():
    sets, held_n = sys.argv[1].split(","), int(sys.argv[2])
    opt = tb.host_flags()
    print(f"load average {os.getloadavg()[0]:.1f}; probe built with gcc {opt}; one thread, best of 15 alternating")
    print("\n| set | table | held-out recall@10 | test recall@10 | top-10 sets changed | table us/query | "
          "emulation = kernel |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            desc, make, base_n, train = tb.SETS[name]
            xq, xb, xt = tb.split(name, make(), base_n, train)
            q, codes = tb.quantizer(name, xt, xb)
            rows, truth = tb.held_out_split(name, xb, held_n)
            gt = vb.knn(xq, xb, 1)[:, 0]
            queries = np.concatenate([xb[rows], xq])
            nn = np.concatenate([truth, gt])
            self_ids = np.concatenate([rows, -np.ones(len(xq), np.int64)])
            rec, changed = recalls(q, codes, queries, nn, self_ids, held_n)
            p = probe(q, codes, xq, opt, tmp)
            for kind in ("float", "bf16", "int8"):
                us = {"float": p["runtime_float_us"], "bf16": p["bf16_us"], "int8": "-"}[kind]
                emu = f"{p['emulation_same']} (max err {float(p['max_abs_err']):.2g})" if kind == "bf16" else "-"
                print(f"| {name if kind == 'float' else ''} | {kind} | {rec[kind][0]:.4f} | {rec[kind][1]:.4f} | "
                      f"{changed[kind]:.3f} | {us} | {emu} |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
