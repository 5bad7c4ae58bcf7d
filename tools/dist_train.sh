#!/usr/bin/env bash
# Distributed training with torchrun: bash tools/dist_train.sh CONFIG NPROC [train.py args]
# (see tools/dist_run.sh for multi-node variables).
exec bash "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" "${@:3}"
