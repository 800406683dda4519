#!/bin/bash
# Issue 22's whole must-show table in one device call (gpu47f, 2026-12-07; first run 13:16 UTC on an H200, RESULTS_gpu.md).
# Prepare on the CPU machine, in the repository root, into G (git-ignore it: echo .gpuwork/ >> .git/info/exclude):
#   G=.gpuwork/final; mkdir -p $G
#   python3 bench/attention_variants.py build --out $G/att --opts "" --wgmma --wg-default 25   # libatt_wg.so
#   python3 bench/gpu.py models --prebuild --objects $G/objects ...   # the CUDA runtime objects (see bench/gpu.py -h)
#   tar cJf $G/att.tar.xz -C $G att; tar cJf $G/objects.tar.xz -C $G objects; rm -r $G/att $G/objects
#   (the sent tree must stay under the device's 64 MiB: leave out an object that does not compress)
# Then: run(command="G=.gpuwork/final bash bench/gpu_final_call.sh 2>&1", carry=[".gpuwork/final"], timeout_s=540)
# Steps: attention table (profile default cfg), the model table (BERT-base, ResNet-50, ViT-B/16, GPT-2 step; errors vs
# float64, fp32 / fp16 / eager / torch.compile fp16), interleaved BERT b8 s512 and ResNet-50 b32 rounds against
# torch.compile. ~520 s of command.
G=${G:-.gpuwork/final}
W=/tmp/g47w
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv
nvcc --version | tail -1
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
git log -1 --format='checkout %h %s' 2>/dev/null | cut -c1-80
export PYTHONUNBUFFERED=1 CUDA_MODULE_LOADING=LAZY PYTHONPATH=$PWD  # gpu_ab.py imports sdk
for t in $G/*.tar.xz; do tar xJf $t -C $G; done; ls $G; ls $G/objects | wc -l
T0=$SECONDS
timeout 60 python3 bench/attention_variants.py run --out $OUT --libs $G/att --cfgs "wg:0" > $OUT/att_log.txt 2>&1
echo "attention rc $? ($((SECONDS-T0)) s)"
T0=$SECONDS
set -o pipefail
timeout 340 python3 bench/gpu.py models --models bert_base resnet50 vit_b16 gpt2_step --compile-precisions fp16 \
  --work $W --objects $G/objects --out $OUT/models.md > $OUT/models_log.txt 2>&1
echo "models rc $? ($((SECONDS-T0)) s)"
T0=$SECONDS
timeout 60 python3 bench/gpu_ab.py $W --model bert_base --dims batch=8,seq=512 --bundles fp16 --rounds 4 > $OUT/ab.txt 2>&1
echo "ab bert rc $? ($((SECONDS-T0)) s)"
T0=$SECONDS
timeout 50 python3 bench/gpu_ab.py $W --model resnet50 --dims batch=32 --bundles fp16 --rounds 4 >> $OUT/ab.txt 2>&1
echo "ab resnet rc $? ($((SECONDS-T0)) s)"
grep -A40 "^| check" $OUT/variants.md | head -45
grep -A14 "^| fp16 attention" $OUT/variants.md
cat $OUT/models.md
grep -E "^\||^round|^[a-z0-9_]+ batch" $OUT/ab.txt
