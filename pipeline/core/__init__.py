"""The science, framework-free: datasets and models (registered by name), batched augmentation,
the pruning methods (registered by name) and the per-sample statistics table they read, SimCLR's
losses, DLC and FlexRand, and evaluation. Only torch, numpy and scikit-learn: no MLflow, DVC,
YAML or plotting, and nothing from pipeline.training or pipeline.study."""
