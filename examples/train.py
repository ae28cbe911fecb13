"""An ordinary MLflow training script: only the standard `mlflow` API, nothing about auth.

Run it under `mlflow-secrets-auth exec -- python examples/train.py` and it talks to the tracking
server through the auth proxy, with no change. It sets an experiment, starts a run, logs
parameters, metrics and a 5 MB artifact, searches runs, downloads the artifact back and checks
it, then prints one JSON line with what it did.

Usage: python train.py [experiment-name] [steps]
"""

import hashlib
import json
import os
import sys
import tempfile

import mlflow


def main() -> None:
    experiment = sys.argv[1] if len(sys.argv) > 1 else "mlflow-secrets-auth-demo"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    mlflow.set_experiment(experiment)
    payload = os.urandom(5 * 1024 * 1024)
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model.bin")
        with open(model, "wb") as f:
            f.write(payload)
        with mlflow.start_run() as run:
            mlflow.log_params({"learning_rate": 0.01, "epochs": steps, "optimizer": "adam"})
            loss = 1.0
            for step in range(steps):
                loss *= 0.7
                mlflow.log_metric("loss", loss, step=step)
                mlflow.log_metric("accuracy", 1.0 - loss / 2, step=step)
            mlflow.log_artifact(model)
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        if not any(r.info.run_id == run.info.run_id for r in runs):
            raise SystemExit("the new run is missing from search_runs")
        downloaded = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="model.bin", dst_path=os.path.join(work, "dl")
        )
        with open(downloaded, "rb") as f:
            if hashlib.sha256(f.read()).digest() != hashlib.sha256(payload).digest():
                raise SystemExit("the downloaded artifact differs from the uploaded one")
    print(
        json.dumps(
            {
                "run_id": run.info.run_id,
                "experiment": experiment,
                "runs_in_experiment": len(runs),
                "metrics_logged": 2 * steps,
                "artifact_bytes": len(payload),
            }
        )
    )


if __name__ == "__main__":
    main()
