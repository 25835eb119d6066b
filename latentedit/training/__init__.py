"""Training: resumable checkpoints, the toy-faces generator distillation recipe, and the shared mapper trainer.

The mapper trainer (``latentedit train mapper --method NAME``)::

    from latentedit.training.config import build_run_config
    from latentedit.training.trainer import MapperTrainer

    run = build_run_config("isf", load_mapper("isf"), {"trainer": {"steps": 2000}}, ["trainer.batch=16"])
    MapperTrainer(run, G, "runs/isf", classifier=judge).train()

Modules: ``config`` (TrainerConfig, RunConfig, YAML/JSON + --set), ``data`` (batches), ``objective`` (the
mapper's losses), ``discriminator`` (the joint attribute discriminator), ``step`` (one step, NaN rollback),
``snapshot``, ``distributed`` (DDP), ``runlog`` (JSONL/TensorBoard/tqdm), ``samples`` (grids), ``trainer``.
Nothing is imported here, so ``import latentedit.training`` stays cheap.
"""
