"""Evaluation against the toy-faces ground truth: generator quality, (later) edit quality."""
