"""The pipeline: the spine (`sync.run_sync`) and one module per stage, extract → diff → convert → act → deliver → commit."""
