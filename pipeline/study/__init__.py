"""The DVC/MLflow study around pipeline.training: params.yaml's config, the stage cells of each
grid, the output paths, MLflow tracking, probing, and the reports, verdicts and plots."""
