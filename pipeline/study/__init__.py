"""The DVC/MLflow study around pipeline.training: params.yaml's config, the stage cells of each
grid (image classification, SimCLR pre-training, and the text task's NLU grids, one per corpus),
the output paths, MLflow tracking, probing, and the reports, verdicts and plots."""
