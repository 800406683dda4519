"""Where the time of ``sdk_cuda_linear_f16`` goes on the GPU (issue 22), on BERT-base b8 s512's four GEMM shapes:
for each library given (e.g. the build of main and the build of a change, side by side in one run), the CUDA-event
median of a whole call (the fp16 rounding of A, then the GEMM), the GPU time of each kernel it launches
(torch.profiler), the host time of a call, and the same for the plain fp16 GEMM of the same shape on the same
wgmma + TMA main loop (``sdk_cuda_gemm_f16_nt``: fp16 output, no epilogue) and for cuBLAS (``torch.addmm`` fp16).
Needs libraries built by ``bench/igemm_gpu.py build --variants lin`` (any source tree):

    python bench/gpu_linear_profile.py --lib main=DIR/libig_lin.so --lib new=DIR2/libig_lin.so [--out FILE.json]
    python bench/gpu_linear_profile.py --lib new=... --one 2   # one warm-up and one profiled call of tile cfg 2
                                                               # on 4096x2304x768 (for ncu -k regex:linear)"""
import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# (M, N, K, activation): FFN 1 also under the erf GELU (its epilogue in the model)
SHAPES = [(4096, 2304, 768, False), (4096, 768, 768, False), (4096, 3072, 768, False), (4096, 3072, 768, "gelu"),
          (4096, 768, 3072, False)]
LIN_CFGS = {"128x256": 1, "128x128": 2, "128x128 3 stages, 2 blocks/SM": 4,  # sdk_cuda_linear_f16_cfg tiles
            "persistent ws, tile rule": 0, "persistent ws 128": 5, "persistent ws 192": 6,
            "fp16 out (sdk_cuda_linear_f16_h, default tiles)": "h"}  # "h": fp16 Y, as the model's QKV and FFN 1
NT_CFGS = {"128x256": 0, "128x128": 2}  # sdk_cuda_gemm_f16_nt_cfg (wgmma + TMA) tiles


def kernel_us(torch, f, n=20):
    """GPU time per launch of each kernel f launches (torch.profiler, n calls)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
        for _ in range(n):
            f()
        torch.cuda.synchronize()
    return {e.key[:100]: round(e.device_time_total / e.count, 2) for e in p.key_averages() if e.device_time_total > 0}


def timings(torch, f):
    from cuda_events import median_ms
    for _ in range(5):
        f()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(50):
        f()
    host = (time.perf_counter() - t0) / 50 * 1e6
    return dict(event_ms=round(median_ms(f, 30, warmup=5), 4), host_us_per_call=round(host, 1),
                kernels_us=kernel_us(torch, f))


def main():
    import torch
    import igemm_gpu as ig
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", action="append", required=True,
                    help="LABEL=path of a libig_lin.so[@linear cfgs to time, e.g. @1,2; default: all of LIN_CFGS]")
    ap.add_argument("--one", type=int, help="only one profiled call of this linear tile cfg (for ncu)")
    ap.add_argument("--no-nt", action="store_true", help="skip the plain fp16 GEMMs (sdk_cuda_gemm_f16_nt)")
    ap.add_argument("--out", help="write the results (JSON) here too")
    a = ap.parse_args()
    libs, cfgs = {}, {}
    for spec in a.lib:
        label, path = spec.split("=", 1)
        path, _, only = path.partition("@")
        libs[label] = ig.declare(ctypes.CDLL(path))
        cfgs[label] = {t: c for t, c in LIN_CFGS.items() if not only or str(c) in only.split(",")}
    gen = torch.Generator(device="cuda").manual_seed(0)
    if a.one is not None:
        case = (1, 4096, 2304, 768, False, False, 1.0, True, False, False)
        A, B, C, R, ref = ig.gemm_operands(case, gen)
        Y = torch.empty(ref.shape, device="cuda")
        for lib in libs.values():
            for _ in range(2):
                ig.call_linear(lib, a.one, case, A, B, C, R, Y)
            torch.cuda.synchronize()
            err = ig.rel(Y, ref)
            print("rel. error", err, flush=True)
            if not err <= 1e-2:  # a wrong tile (or NaN): a failing exit status, e.g. for a device script's gate
                return 1
        return 0
    res = dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, rows=[])
    for M, N, K, act in SHAPES:
        case = (1, M, N, K, False, False, 1.0, True, False, act)  # bias row, as BERT's linear layers
        A, B, C, R, ref = ig.gemm_operands(case, gen)
        Ah, Bh, Ch = A[0].half(), B[0].half(), C.half()
        Bt = Bh.t().contiguous()
        Yh = torch.empty(M, N, dtype=torch.half, device="cuda")
        flops = 2.0 * M * N * K
        gelu = torch.nn.functional.gelu
        row = dict(shape=[M, N, K], act=act or "none", lin={}, nt={},
                   cublas=timings(torch, (lambda: gelu(torch.addmm(Ch, Ah, Bh))) if act else
                                  (lambda: torch.addmm(Ch, Ah, Bh))))
        for label, lib in libs.items():
            for tile, cfg in cfgs[label].items():
                if cfg == "h" and not hasattr(lib, "ig_linear_h"):
                    continue
                # fp16 Y for "h" (written in place, no widening copy in the timed call)
                Y = torch.full(ref.shape, float("nan"), device="cuda", dtype=torch.half if cfg == "h" else torch.float)
                row["lin"][f"{label} {tile}"] = r = timings(torch, lambda: ig.call_linear(lib, cfg, case, A, B, C, R, Y))
                r["rel_err"] = ig.rel(Y.float(), ref)
            for tile, cfg in NT_CFGS.items() if not (act or a.no_nt) else ():
                def nt():
                    st = lib.ig_gemm_f16_nt(torch.cuda.current_stream().cuda_stream, cfg, M, N, K, 1.0, Ah.data_ptr(),
                                            Bt.data_ptr(), Yh.data_ptr())
                    if st:
                        raise RuntimeError(f"sdk_cuda_gemm_f16_nt_cfg: status {st}")
                row["nt"][f"{label} {tile}"] = r = timings(torch, nt)
                r["rel_err"] = ig.rel(Yh.float(), ref - C.double())  # no bias in this GEMM
                # the same against the float64 product of the fp16-rounded operands, and how many outputs differ
                # from it by more than 1 % of the output's RMS (a wrong tile, not rounding)
                exact = Ah.double() @ Bh.double()
                bad = (Yh.double() - exact).abs() > 0.01 * float(exact.pow(2).mean().sqrt())
                r["rel_err_rounded_operands"] = ig.rel(Yh.float(), exact)
                r["outputs_off"] = int(bad.sum())
                if r["outputs_off"]:
                    idx = bad.nonzero()
                    r["off_rows"] = sorted(set(idx[:, 0].tolist()))[:20]
                    r["off_cols"] = sorted(set(idx[:, 1].tolist()))[:20]
        res["rows"].append(row)
        cub = row["cublas"]["event_ms"]
        print(f"{M}x{N}x{K} {act or ''}: cuBLAS{' + GELU' if act else ''} {cub:.4f} ms ({flops / cub / 1e9:.0f} TFLOP/s) kernels {row['cublas']['kernels_us']}",
              flush=True)
        for kind in ("lin", "nt"):
            for key, r in row[kind].items():
                print(f"  {kind} {key}: {r['event_ms']:.4f} ms ({flops / r['event_ms'] / 1e9:.0f} TFLOP/s, "
                      f"{cub / r['event_ms']:.2f}x cuBLAS) host {r['host_us_per_call']} us/call, err "
                      f"{r['rel_err']:.1e}, kernels {r['kernels_us']}" +
                      (f" err vs rounded operands {r['rel_err_rounded_operands']:.1e}, outputs off "
                       f"{r['outputs_off']} {r.get('off_rows', '')} {r.get('off_cols', '')}" if kind == "nt" else ""),
                      flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
