"""Evaluation: the reference models as lsdbench encoders (entry points), their health checks, the
latents they are judged by, and their model cards."""
