#!/usr/bin/env bash
# torchrun one of the tools: bash tools/dist_run.sh TOOL NPROC [tool args], e.g. TOOL=train.py.
# NPROC processes per node (one per GPU; on a CPU-only machine they use gloo).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.

TOOL=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

$PYTHON -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/$TOOL" \
    "${@:3}" \
    --launcher pytorch
