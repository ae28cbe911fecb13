"""Logs one metric per iteration until a stop file appears; every call must succeed.

Usage: python e2e_loop.py <stop-file> <progress-file>
The progress file gets `<iterations> <MLFLOW_TRACKING_URI>` after each iteration.
"""

import os
import sys

import mlflow

stop_file, progress_file = sys.argv[1], sys.argv[2]
mlflow.set_experiment("rotation-loop")
i = 0
with mlflow.start_run():
    while not os.path.exists(stop_file):
        mlflow.log_metric("iteration", i, step=i)
        i += 1
        tmp = progress_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{i} {os.environ.get('MLFLOW_TRACKING_URI', '')}")
        os.replace(tmp, progress_file)
print(i)
