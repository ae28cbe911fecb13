"""An ordinary MLflow job that logs what it should not: the content of a mounted secret file.

Only the standard `mlflow` API. It starts a run, logs a harmless param, then the secret file's
content as a param, as a tag and inside a log-batch, and prints one JSON line saying, for each
call, "logged" or the MlflowException's error code and message.

Usage: python leak_job.py <secret-file> <experiment-name>
"""

import json
import sys

import mlflow
from mlflow.exceptions import MlflowException


def attempt(call):
    try:
        call()
        return "logged"
    except MlflowException as error:
        return {"error_code": error.error_code, "message": error.message}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        content = f.read()
    mlflow.set_experiment(sys.argv[2])
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", "0.01")
        outcome = {
            "run_id": run.info.run_id,
            "param": attempt(lambda: mlflow.log_param("api_token", content)),
            "tag": attempt(lambda: mlflow.set_tag("api_token", content)),
            "batch": attempt(lambda: mlflow.log_params({"epochs": "3", "auth": content})),
        }
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
