"""Training: resumable checkpoints, the toy-faces generator distillation recipe, the mapper trainer."""
