"""Registers model versions in an MLflow Model Registry with MLflow's own
client: each version's directory (model.toml, model.onnx, metadata.json) is
logged as a run's artifacts and registered from there.

usage: mlflow_register.py TRACKING_URI NAME DIR [DIR ...] [--alias ALIAS]
Prints one line per registered version: "<version> <run_id>". The alias, if
given, points at the last version registered.
"""
import argparse

import mlflow
from mlflow import MlflowClient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tracking_uri")
    parser.add_argument("name")
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--alias")
    args = parser.parse_args()
    mlflow.set_tracking_uri(args.tracking_uri)
    client = MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{args.name}'"):
        client.create_registered_model(args.name)
    version = None
    for directory in args.dirs:
        with mlflow.start_run() as run:
            mlflow.log_artifacts(directory, artifact_path="model")
        version = client.create_model_version(
            args.name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        print(version.version, run.info.run_id, flush=True)
    if args.alias and version is not None:
        client.set_registered_model_alias(args.name, args.alias, version.version)


if __name__ == "__main__":
    main()
