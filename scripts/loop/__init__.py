"""The closed loop on one machine: drift -> retrain -> gates -> canary ->
analysis -> promote or abort, with the project's own binaries and a real
Prometheus (see scripts/closed_loop.py)."""
