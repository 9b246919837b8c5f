"""The training runtime on top of pipeline.core: the settings a run reads, the device and DDP
runtime, the tasks (supervised image classification, SimCLR, and the text task: fine-tuning a
text classifier), the epoch loop with checkpoints and resume, and `Pruner`, the entry for one's
own PyTorch loop. No MLflow, DVC or plotting, and nothing from pipeline.study."""
