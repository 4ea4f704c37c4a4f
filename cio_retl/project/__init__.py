"""The project file (`cio_retl.yaml`): its models, loading, checks, the model contract and the run order."""
