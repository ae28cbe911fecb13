"""The job `bench/e2e.ts` runs under each variant: only the standard `mlflow` API, nothing about auth.

It sets a new experiment, starts a run, logs PARAMS parameters and METRICS metric points one call
each, uploads an artifact of ARTIFACT_MIB MiB of random bytes, searches runs, downloads the artifact
back and checks it, then prints one JSON line: what it did, how long each phase took, its own peak
RSS, and the pid and peak RSS (VmHWM) of its parent process. Under `exec` the parent is the auth
proxy: its peak, read after the job's last request, is the proxy's peak for the whole job.

Usage: python e2e_job.py EXPERIMENT PARAMS METRICS ARTIFACT_MIB
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

IMPORT_S = time.perf_counter() - _t0


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


def main() -> None:
    experiment = sys.argv[1]
    params, metrics, mib = (int(v) for v in sys.argv[2:5])
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
            mlflow.log_artifact(model)
            lap("upload")
        lap("end_run")
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        if not any(r.info.run_id == run.info.run_id for r in runs):
            raise SystemExit("the new run is missing from search_runs")
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
