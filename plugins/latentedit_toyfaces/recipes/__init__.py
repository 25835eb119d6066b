"""Recipes that train the toy-faces generator: distillation from the renderer (``distill``) and the synthesis
fine-tune (``finetune_synthesis``). Nothing is imported here."""
