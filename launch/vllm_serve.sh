#!/usr/bin/env bash
# Start `trl vllm-serve` for GRPO server mode (rl=grpo_vllm_server) on its own GPU.
#
#   bash launch/vllm_serve.sh <model_path> [gpu_id=0] [port=8000] [gpu_memory_utilization=0.9] [max_model_len=4096]
#
# Then train on the other GPU(s), pointing the trainer at the same port, e.g.
#   CUDA_VISIBLE_DEVICES=1 python -m launch.pipeline condition=sft_grpo rl=grpo_vllm_server rl.generation.vllm_server_port=8000
# The server must serve the model the rl stage starts from: for sft_grpo that is the SFT stage's `final` folder
# (outputs/shared/sft/<fingerprint>/final: the `model_path` of that folder's summary.json); run the pipeline with
# only_stages=[data,base,teacher,sft] first, then e.g. MODEL=$(ls -td outputs/shared/sft/*/final | head -1).
# TRL 1.16's vllm-serve sets `--logprobs-mode processed_logprobs` itself (needed by the importance-sampling
# correction); it needs vllm 0.22-0.31 on a CUDA machine. Stop it with Ctrl-C / kill <pid>.
set -euo pipefail
MODEL=${1:?usage: launch/vllm_serve.sh <model_path> [gpu_id] [port] [gpu_memory_utilization] [max_model_len]}
GPU=${2:-0}
PORT=${3:-8000}
MEM=${4:-0.9}
MAXLEN=${5:-4096}
python -c "import vllm" 2>/dev/null || { echo "error: vllm is not installed here (needs a CUDA GPU; TRL 1.16 supports vllm 0.22-0.31)" >&2; exit 2; }
export CUDA_VISIBLE_DEVICES=$GPU
exec trl vllm-serve --model "$MODEL" --port "$PORT" --gpu_memory_utilization "$MEM" --max_model_len "$MAXLEN" \
  --tensor_parallel_size 1 --dtype bfloat16
