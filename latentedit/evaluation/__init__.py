"""Edit-quality metrics that need no ground truth (a domain may add ground-truth ones in its own package)."""
