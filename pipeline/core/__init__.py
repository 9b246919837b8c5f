"""The science, framework-free: image datasets and models (registered by name), batched
augmentation; for the text task (NLU: fine-tuning a text classifier) the text corpora, their
tokenised form and the text classifiers with their tokenizers (registered by name); the pruning
methods (registered by name) and the per-sample statistics table they read, SimCLR's losses, DLC
and FlexRand, and evaluation. Only torch, numpy and scikit-learn (torchvision, transformers and
datasets imported where a dataset or model needs them): no MLflow, DVC, YAML or plotting, and
nothing from pipeline.training or pipeline.study."""
