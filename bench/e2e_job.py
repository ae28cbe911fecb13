"""The job `bench/e2e.ts` runs under each variant: only the standard `mlflow` API, nothing about auth.

It sets a new experiment, starts a run, logs PARAMS parameters and METRICS metric points one call
each, then BATCHES large `MlflowClient().log_batch` calls (each one request of about 0.9 MB: 100
params and 100 tags of 4,000 characters, 800 metric points, MLflow's 1,000 entities per batch),
uploads an artifact of ARTIFACT_MIB MiB of random bytes, searches runs, downloads the artifact back
and checks it, then prints one JSON line: what it did, how long each phase took, its own peak
RSS, and the pid and peak RSS (VmHWM) of its parent process. Under `exec` the parent is the auth
proxy: its peak, read after the job's last request, is the proxy's peak for the whole job.

Usage: python e2e_job.py EXPERIMENT PARAMS METRICS ARTIFACT_MIB [BATCHES]
"""

import time

_t0 = time.perf_counter()
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import mlflow  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402

IMPORT_S = time.perf_counter() - _t0

# Printable characters that JSON does not escape, so a value's length is its length on the wire.
_ALPHABET = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-_:;=+"
_TEXT = bytes.maketrans(bytes(range(256)), bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256)))
BATCH_VALUE_CHARS = 4000
BATCH_PARAMS = 100
BATCH_TAGS = 100
BATCH_METRICS = 800


def peak_kib(pid: int) -> int:
    """VmHWM of a process, in KiB; -1 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def batch_entities(batch: int) -> tuple[list[Metric], list[Param], list[RunTag]]:
    """One log_batch's entities: random text values (new for each batch), unique param keys."""
    text = os.urandom(BATCH_VALUE_CHARS * (BATCH_PARAMS + BATCH_TAGS)).translate(_TEXT).decode()
    values = [
        text[i * BATCH_VALUE_CHARS : (i + 1) * BATCH_VALUE_CHARS]
        for i in range(BATCH_PARAMS + BATCH_TAGS)
    ]
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"batch_metric_{i % 50}", (i * 7919 % 1000) / 1000, now + i, batch * 16 + i // 50)
        for i in range(BATCH_METRICS)
    ]
    params = [Param(f"batch_{batch}_param_{i}", values[i]) for i in range(BATCH_PARAMS)]
    tags = [RunTag(f"batch_tag_{i}", values[BATCH_PARAMS + i]) for i in range(BATCH_TAGS)]
    return metrics, params, tags


def main() -> None:
    experiment = sys.argv[1]
    params, metrics, mib = (int(v) for v in sys.argv[2:5])
    batches = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    phases = {}
    last = time.perf_counter()
    started = last

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[name] = now - last
        last = now

    mlflow.set_experiment(experiment)
    payload = os.urandom(mib * 1024 * 1024)
    batch_data = [batch_entities(b) for b in range(batches)]
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model.bin")
        with open(model, "wb") as f:
            f.write(payload)
        lap("setup")
        with mlflow.start_run() as run:
            lap("start_run")
            for i in range(params):
                mlflow.log_param(f"param_{i}", i)
            lap("params")
            loss = 1.0
            for step in range(metrics):
                loss *= 0.99
                mlflow.log_metric("loss", loss, step=step)
            lap("metrics")
            if batches > 0:
                client = MlflowClient()
                for batch_metrics, batch_params, batch_tags in batch_data:
                    client.log_batch(
                        run.info.run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags
                    )
                lap("batches")
            mlflow.log_artifact(model)
            lap("upload")
        lap("end_run")
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        found = [r for r in runs if r.info.run_id == run.info.run_id]
        if not found:
            raise SystemExit("the new run is missing from search_runs")
        if len(found[0].data.params) != params + batches * BATCH_PARAMS:
            raise SystemExit(f"the run has {len(found[0].data.params)} params, not all it logged")
        lap("search")
        downloaded = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model.bin", dst_path=os.path.join(work, "dl")
        )
        with open(downloaded, "rb") as f:
            if hashlib.sha256(f.read()).digest() != hashlib.sha256(payload).digest():
                raise SystemExit("the downloaded artifact differs from the uploaded one")
        lap("download")
    body_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "run_id": run.info.run_id,
                "params": params,
                "metrics": metrics,
                "batches": batches,
                "artifact_bytes": len(payload),
                "import_s": IMPORT_S,
                "body_s": body_s,
                "phases_s": phases,
                "self_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "parent_pid": os.getppid(),
                "parent_peak_kib": peak_kib(os.getppid()),
            }
        )
    )


if __name__ == "__main__":
    main()
